#include "etrnd/control/queue_merge.h"

#include <algorithm>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "etrnd/common/strings.h"

namespace etrnd::control {
namespace {

// A reader for the one shape RenderQueue writes: objects, arrays, strings
// (with the escapes JsonString makes), integers and null.
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Peek(char c) {
    SkipSpace();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  bool String(std::string* out) {
    if (!Consume('"')) return false;
    out->clear();
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"') return true;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= text_.size()) return false;
      char e = text_[pos_++];
      if (e == 'u') {
        unsigned value = 0;
        if (pos_ + 4 > text_.size()) return false;
        if (!absl::SimpleHexAtoi(AsAbsl(text_.substr(pos_, 4)), &value)) return false;
        pos_ += 4;
        out->push_back(value < 0x80 ? static_cast<char>(value) : '?');
      } else {
        out->push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e);
      }
    }
    return false;
  }
  // An integer, or null (has_value false).
  bool Integer(int64_t* out, bool* has_value) {
    SkipSpace();
    if (text_.substr(pos_, 4) == "null") {
      pos_ += 4;
      *has_value = false;
      return true;
    }
    size_t end = pos_;
    if (end < text_.size() && text_[end] == '-') ++end;
    while (end < text_.size() && text_[end] >= '0' && text_[end] <= '9') ++end;
    if (!absl::SimpleAtoi(AsAbsl(text_.substr(pos_, end - pos_)), out)) return false;
    pos_ = end;
    *has_value = true;
    return true;
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n')) ++pos_;
  }
  std::string_view text_;
  size_t pos_ = 0;
};

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError("not a queue --json body: " + std::string(what));
}

absl::StatusOr<DomainSummary> ParseRow(Reader& in, std::string domain) {
  DomainSummary row;
  row.domain = std::move(domain);
  if (!in.Consume('{')) return Malformed("row");
  for (bool first = true; !in.Consume('}'); first = false) {
    if (!first && !in.Consume(',')) return Malformed("row separator");
    std::string key;
    if (!in.String(&key) || !in.Consume(':')) return Malformed("row key");
    int64_t number = 0;
    bool has_value = false;
    if (key == "state") {
      if (!in.String(&row.state)) return Malformed("state");
    } else if (key == "ages") {
      if (!in.Consume('[')) return Malformed("ages");
      for (size_t i = 0; !in.Consume(']'); ++i) {
        if (i > 0 && !in.Consume(',')) return Malformed("ages separator");
        if (!in.Integer(&number, &has_value) || i >= kQshapeBuckets) return Malformed("ages");
        row.ages[i] = static_cast<uint64_t>(std::max<int64_t>(number, 0));
      }
    } else {
      if (!in.Integer(&number, &has_value)) return Malformed(key);
      const uint64_t count = static_cast<uint64_t>(std::max<int64_t>(number, 0));
      if (key == "messages") row.messages = count;
      if (key == "recipients") row.recipients = count;
      if (key == "bytes") row.bytes = count;
      if (key == "oldest_age_s") row.oldest_age_s = number;
      if (key == "next_attempt_s" && has_value) row.next_attempt_s = number;
    }
  }
  return row;
}

}  // namespace

absl::StatusOr<std::vector<DomainSummary>> ParseQueueJson(std::string_view body) {
  Reader in(body);
  std::string key;
  if (!in.Consume('{') || !in.String(&key) || key != "domains" || !in.Consume(':') ||
      !in.Consume('{')) {
    return Malformed("no \"domains\" object first");
  }
  std::vector<DomainSummary> rows;
  for (bool first = true; !in.Consume('}'); first = false) {
    if (!first && !in.Consume(',')) return Malformed("domain separator");
    std::string domain;
    if (!in.String(&domain) || !in.Consume(':')) return Malformed("domain name");
    absl::StatusOr<DomainSummary> row = ParseRow(in, std::move(domain));
    if (!row.ok()) return row.status();
    rows.push_back(*std::move(row));
  }
  return rows;
}

std::vector<DomainSummary> MergeQueues(const std::vector<std::vector<DomainSummary>>& nodes) {
  std::map<std::string, DomainSummary> merged;
  for (const auto& node : nodes) {
    for (const DomainSummary& row : node) {
      auto [it, fresh] = merged.try_emplace(row.domain, row);
      if (fresh) continue;
      DomainSummary& sum = it->second;
      sum.messages += row.messages;
      sum.recipients += row.recipients;
      sum.bytes += row.bytes;
      sum.oldest_age_s = std::max(sum.oldest_age_s, row.oldest_age_s);
      for (size_t i = 0; i < kQshapeBuckets; ++i) sum.ages[i] += row.ages[i];
      if (row.next_attempt_s.has_value() &&
          (!sum.next_attempt_s.has_value() || *row.next_attempt_s < *sum.next_attempt_s)) {
        sum.next_attempt_s = row.next_attempt_s;
      }
      if (sum.state != row.state) sum.state = "mixed";
    }
  }
  std::vector<DomainSummary> out;
  out.reserve(merged.size());
  for (auto& [domain, row] : merged) out.push_back(std::move(row));
  return out;
}

}  // namespace etrnd::control
