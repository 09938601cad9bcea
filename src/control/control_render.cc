#include "etrnd/control/control_render.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace etrnd::control {
namespace {

std::string Ages(const QshapeCounts& ages) {
  std::string out = "[";
  for (size_t i = 0; i < ages.size(); ++i) {
    if (i > 0) out += ',';
    absl::StrAppend(&out, ages[i]);
  }
  return out + "]";
}

std::string OptionalInt(const std::optional<int64_t>& value) {
  return value.has_value() ? std::to_string(*value) : "null";
}

std::string NextAttemptText(const DomainSummary& d) {
  if (d.state == "retry" && d.next_attempt_s.has_value()) {
    return "in " + ShortDuration(*d.next_attempt_s);
  }
  return d.state;
}

}  // namespace

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7F || u >= 0x80) {
          // Non-ASCII bytes are escaped one by one: the output stays valid
          // JSON whatever a header holds (it need not be UTF-8).
          absl::StrAppendFormat(&out, "\\u%04x", u);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string ShortDuration(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds < 3600) return absl::StrCat(seconds / 60, "m");
  if (seconds < 86400) return absl::StrCat(seconds / 3600, "h", (seconds % 3600) / 60, "m");
  return absl::StrCat(seconds / 86400, "d", (seconds % 86400) / 3600, "h");
}

std::string RenderQueue(std::vector<DomainSummary> domains, bool json) {
  std::sort(domains.begin(), domains.end(),
            [](const DomainSummary& a, const DomainSummary& b) { return a.domain < b.domain; });
  DomainSummary total;
  for (const DomainSummary& d : domains) {
    total.messages += d.messages;
    total.recipients += d.recipients;
    total.bytes += d.bytes;
    total.oldest_age_s = std::max(total.oldest_age_s, d.oldest_age_s);
    for (size_t i = 0; i < kQshapeBuckets; ++i) total.ages[i] += d.ages[i];
  }
  std::string out;
  if (json) {
    out = "{\"domains\":{";
    bool first = true;
    for (const DomainSummary& d : domains) {
      if (!first) out += ',';
      first = false;
      absl::StrAppend(&out, JsonString(d.domain), ":{\"messages\":", d.messages,
                      ",\"recipients\":", d.recipients, ",\"bytes\":", d.bytes,
                      ",\"oldest_age_s\":", d.oldest_age_s, ",\"state\":", JsonString(d.state),
                      ",\"next_attempt_s\":", OptionalInt(d.next_attempt_s),
                      ",\"ages\":", Ages(d.ages), "}");
    }
    out += "},\"buckets\":[";
    for (size_t i = 0; i < kQshapeBuckets; ++i) {
      if (i > 0) out += ',';
      out += JsonString(QshapeLabel(i));
    }
    absl::StrAppend(&out, "],\"total\":{\"domains\":", domains.size(),
                    ",\"messages\":", total.messages, ",\"recipients\":", total.recipients,
                    ",\"bytes\":", total.bytes, ",\"oldest_age_s\":", total.oldest_age_s,
                    ",\"ages\":", Ages(total.ages), "}}\n");
    return out;
  }
  size_t width = 6;
  for (const DomainSummary& d : domains) width = std::max(width, d.domain.size());
  absl::StrAppendFormat(&out, "%-*s %8s %8s %12s %8s %-10s", width, "DOMAIN", "MSGS", "RCPTS",
                        "BYTES", "OLDEST", "NEXT");
  for (size_t i = 0; i < kQshapeBuckets; ++i) absl::StrAppendFormat(&out, " %6s", QshapeLabel(i));
  out += '\n';
  auto row = [&](const DomainSummary& d, std::string_view name, std::string_view next) {
    absl::StrAppendFormat(&out, "%-*s %8d %8d %12d %8s %-10s", width, name, d.messages,
                          d.recipients, d.bytes, ShortDuration(d.oldest_age_s), next);
    for (uint64_t count : d.ages) absl::StrAppendFormat(&out, " %6d", count);
    out += '\n';
  };
  row(total, "TOTAL", "");
  for (const DomainSummary& d : domains) row(d, d.domain, NextAttemptText(d));
  return out;
}

std::string RenderList(std::string_view domain, const std::vector<MessageSummary>& messages,
                       bool json) {
  std::string out;
  if (json) {
    absl::StrAppend(&out, "{\"domain\":", JsonString(domain), ",\"messages\":[");
    for (size_t i = 0; i < messages.size(); ++i) {
      const MessageSummary& m = messages[i];
      if (i > 0) out += ',';
      absl::StrAppend(&out, "{\"id\":", JsonString(m.id), ",\"sender\":", JsonString(m.sender),
                      ",\"bytes\":", m.bytes, ",\"age_s\":", m.age_s,
                      ",\"recipients\":", m.recipients, ",\"attempts\":", m.attempts,
                      ",\"last_error\":", JsonString(m.last_error), "}");
    }
    out += "]}\n";
    return out;
  }
  absl::StrAppendFormat(&out, "%-16s %10s %8s %5s %8s  %-30s %s\n", "ID", "BYTES", "AGE", "RCPTS",
                        "ATTEMPTS", "SENDER", "LAST ERROR");
  for (const MessageSummary& m : messages) {
    absl::StrAppendFormat(&out, "%-16s %10d %8s %5d %8d  %-30s %s\n", m.id, m.bytes,
                          ShortDuration(m.age_s), m.recipients, m.attempts, "<" + m.sender + ">",
                          m.last_error);
  }
  absl::StrAppendFormat(&out, "%d messages for %s\n", messages.size(), domain);
  return out;
}

std::string RenderShow(const MessageDetail& m, bool json) {
  std::string out;
  if (json) {
    absl::StrAppend(&out, "{\"id\":", JsonString(m.id), ",\"sender\":", JsonString(m.sender),
                    ",\"arrival_unix\":", m.arrival_unix_s, ",\"age_s\":", m.age_s,
                    ",\"bytes\":", m.bytes, ",\"recipients\":[");
    for (size_t i = 0; i < m.recipients.size(); ++i) {
      if (i > 0) out += ',';
      absl::StrAppend(&out, "{\"address\":", JsonString(m.recipients[i].address),
                      ",\"state\":", m.recipients[i].queued ? "\"queued\"" : "\"done\"", "}");
    }
    absl::StrAppend(&out, "],\"headers\":", JsonString(m.headers), "}\n");
    return out;
  }
  absl::StrAppendFormat(&out, "id:       %s\nsender:   <%s>\narrival:  %d (%s ago)\nbytes:    %d\n",
                        m.id, m.sender, m.arrival_unix_s, ShortDuration(m.age_s), m.bytes);
  for (const RecipientState& r : m.recipients) {
    absl::StrAppendFormat(&out, "rcpt:     <%s> %s\n", r.address, r.queued ? "queued" : "done");
  }
  absl::StrAppend(&out, "\n", m.headers);
  if (!m.headers.empty() && m.headers.back() != '\n') out += '\n';
  return out;
}

std::string RenderStats(const std::vector<CoreStats>& cores, bool json) {
  CoreStats total;
  for (const CoreStats& c : cores) {
    total.sessions += c.sessions;
    total.queued_messages += c.queued_messages;
    total.queued_recipients += c.queued_recipients;
    total.queued_domains += c.queued_domains;
    total.flushes_running += c.flushes_running;
    total.messages_accepted += c.messages_accepted;
    total.deliveries_delivered += c.deliveries_delivered;
    total.bounces += c.bounces;
    total.held_domains = std::max(total.held_domains, c.held_domains);  // every core has them all
  }
  auto json_core = [](const CoreStats& c) {
    return absl::StrCat(
        "\"sessions\":", c.sessions, ",\"queued_messages\":", c.queued_messages,
        ",\"queued_recipients\":", c.queued_recipients, ",\"queued_domains\":", c.queued_domains,
        ",\"flushes_running\":", c.flushes_running, ",\"held_domains\":", c.held_domains,
        ",\"messages_accepted\":", c.messages_accepted,
        ",\"deliveries_delivered\":", c.deliveries_delivered, ",\"bounces\":", c.bounces);
  };
  std::string out;
  if (json) {
    absl::StrAppend(&out, "{\"total\":{", json_core(total), "},\"cores\":[");
    for (size_t i = 0; i < cores.size(); ++i) {
      if (i > 0) out += ',';
      absl::StrAppend(&out, "{\"core\":", cores[i].core, ",", json_core(cores[i]), "}");
    }
    out += "]}\n";
    return out;
  }
  absl::StrAppendFormat(&out, "%-6s %9s %10s %10s %9s %8s %6s %10s %10s %8s\n", "CORE", "SESSIONS",
                        "QUEUED", "RCPTS", "DOMAINS", "FLUSHES", "HELD", "ACCEPTED", "DELIVERED",
                        "BOUNCES");
  auto row = [&](const CoreStats& c, const std::string& name) {
    absl::StrAppendFormat(&out, "%-6s %9d %10d %10d %9d %8d %6d %10d %10d %8d\n", name, c.sessions,
                          c.queued_messages, c.queued_recipients, c.queued_domains,
                          c.flushes_running, c.held_domains, c.messages_accepted,
                          c.deliveries_delivered, c.bounces);
  };
  for (const CoreStats& c : cores) row(c, std::to_string(c.core));
  row(total, "TOTAL");
  return out;
}

std::string RenderAction(const std::vector<Field>& fields, std::string_view text, bool json) {
  if (!json) return std::string(text) + "\n";
  std::string out = "{";
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    out += JsonString(fields[i].key) + ":";
    const auto& value = fields[i].value;
    if (const int64_t* number = std::get_if<int64_t>(&value)) {
      out += std::to_string(*number);
    } else if (const bool* flag = std::get_if<bool>(&value)) {
      out += *flag ? "true" : "false";
    } else {
      out += JsonString(std::get<std::string>(value));
    }
  }
  return out + "}\n";
}

std::string RenderError(std::string_view reason, bool json) {
  if (!json) return "";
  return "{\"error\":" + JsonString(reason) + "}\n";
}

}  // namespace etrnd::control
