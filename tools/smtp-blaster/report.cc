#include "etrnd/blaster/report.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace etrnd::blaster {
namespace {

double PerSecond(uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0;
}

std::string CountsJson(const std::map<std::string, uint64_t>& counts) {
  std::string out = "{";
  for (const auto& [key, count] : counts) {
    if (out.size() > 1) out.append(",");
    absl::StrAppend(&out, JsonString(key), ":", count);
  }
  out.append("}");
  return out;
}

uint64_t TotalOf(const std::map<std::string, uint64_t>& counts) {
  uint64_t total = 0;
  for (const auto& [key, count] : counts) total += count;
  return total;
}

std::string LatencyText(const LatencyHistogram& h) {
  return absl::StrFormat("p50 %d  p90 %d  p99 %d  p99.9 %d  max %d us (n=%d)",
                         h.ValueAtPercentile(50), h.ValueAtPercentile(90), h.ValueAtPercentile(99),
                         h.ValueAtPercentile(99.9), h.max(), h.count());
}

std::string CountsText(const std::map<std::string, uint64_t>& counts) {
  if (counts.empty()) return "none";
  std::string out;
  for (const auto& [key, count] : counts)
    absl::StrAppend(&out, out.empty() ? "" : ", ", key, "=", count);
  return out;
}

}  // namespace

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string LatencyJson(const LatencyHistogram& h) {
  return absl::StrFormat(
      "{\"p50\":%d,\"p90\":%d,\"p99\":%d,\"p999\":%d,\"max\":%d,\"min\":%d,\"mean\":%.1f,"
      "\"count\":%d}",
      h.ValueAtPercentile(50), h.ValueAtPercentile(90), h.ValueAtPercentile(99),
      h.ValueAtPercentile(99.9), h.max(), h.min(), h.mean(), h.count());
}

std::string ClientSummaryJson(const ClientStats& stats, double seconds) {
  std::string out = absl::StrFormat(
      "{\"messages_ok\":%d,\"messages_failed\":%d,\"messages_unsent\":%d,"
      "\"recipients_rejected\":%d,\"seconds\":%.3f,\"messages_per_second\":%.1f,"
      "\"bytes_per_second\":%.1f,\"latency_us\":%s",
      stats.messages_ok, stats.messages_failed, stats.messages_unsent, stats.recipients_rejected,
      seconds, PerSecond(stats.messages_ok, seconds), PerSecond(stats.bytes_ok, seconds),
      LatencyJson(stats.latency_us));
  if (stats.etrn_ok + stats.etrn_failed > 0) {
    absl::StrAppend(&out, ",\"etrn_ok\":", stats.etrn_ok, ",\"etrn_failed\":", stats.etrn_failed,
                    ",\"etrn_latency_us\":", LatencyJson(stats.etrn_latency_us),
                    ",\"etrn_errors\":", CountsJson(stats.etrn_errors));
  }
  absl::StrAppend(&out, ",\"errors\":", CountsJson(stats.errors), "}");
  return out;
}

std::string ClientSummaryText(const ClientStats& stats, double seconds) {
  std::string out = absl::StrFormat(
      "messages: %d ok, %d failed, %d unsent in %.3f s\n"
      "throughput: %.1f messages/s, %.1f bytes/s\n"
      "latency (MAIL to 250 after DATA): %s\n",
      stats.messages_ok, stats.messages_failed, stats.messages_unsent, seconds,
      PerSecond(stats.messages_ok, seconds), PerSecond(stats.bytes_ok, seconds),
      LatencyText(stats.latency_us));
  if (stats.etrn_ok + stats.etrn_failed > 0) {
    absl::StrAppendFormat(&out, "etrn: %d ok, %d failed; latency %s; errors: %s\n", stats.etrn_ok,
                          stats.etrn_failed, LatencyText(stats.etrn_latency_us),
                          CountsText(stats.etrn_errors));
  }
  absl::StrAppendFormat(&out, "recipients rejected: %d\nerrors: %s\n", stats.recipients_rejected,
                        CountsText(stats.errors));
  return out;
}

std::string ClientProgressLine(const ClientStats& total, uint64_t ok_in_interval,
                               double interval_seconds, double elapsed_seconds) {
  return absl::StrFormat("[%6.1fs] %9.1f msg/s  ok %d  failed %d  p99 %d us  errors %d\n",
                         elapsed_seconds, PerSecond(ok_in_interval, interval_seconds),
                         total.messages_ok, total.messages_failed,
                         total.latency_us.ValueAtPercentile(99), TotalOf(total.errors));
}

std::string SinkSummaryJson(const SinkStats& stats, double seconds) {
  // Sorted, so the output is stable and diffable.
  std::map<std::string, DomainCounts> sorted(stats.per_domain.begin(), stats.per_domain.end());
  std::string domains = "{";
  for (const auto& [domain, counts] : sorted) {
    if (domains.size() > 1) domains.append(",");
    absl::StrAppend(&domains, JsonString(domain), ":{\"messages\":", counts.messages,
                    ",\"bytes\":", counts.bytes, "}");
  }
  domains.append("}");
  return absl::StrFormat(
      "{\"messages\":%d,\"bytes\":%d,\"connections\":%d,\"seconds\":%.3f,\"per_domain\":%s}",
      stats.messages, stats.bytes, stats.connections, seconds, domains);
}

std::string SinkSummaryText(const SinkStats& stats, double seconds) {
  std::string out = absl::StrFormat("sink: %d messages, %d bytes, %d connections in %.3f s\n",
                                    stats.messages, stats.bytes, stats.connections, seconds);
  std::map<std::string, DomainCounts> sorted(stats.per_domain.begin(), stats.per_domain.end());
  for (const auto& [domain, counts] : sorted) {
    absl::StrAppendFormat(&out, "  %s: %d messages, %d bytes\n", domain.empty() ? "(none)" : domain,
                          counts.messages, counts.bytes);
  }
  return out;
}

}  // namespace etrnd::blaster
