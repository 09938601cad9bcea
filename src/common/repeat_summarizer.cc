#include "etrnd/common/repeat_summarizer.h"

namespace etrnd {
namespace {

constexpr char kKeySeparator = '\x1f';

}  // namespace

RepeatSummarizer::RepeatSummarizer(absl::Duration interval, size_t keys_max)
    : interval_(interval), keys_max_(keys_max) {}

bool RepeatSummarizer::Admit(std::string_view event, std::string_view client, int level,
                             absl::Time now, uint64_t* suppressed, absl::Duration* over) {
  *suppressed = 0;
  *over = absl::ZeroDuration();
  key_.assign(event);
  key_.push_back(kKeySeparator);
  key_.append(client);
  auto it = entries_.find(key_);
  if (it == entries_.end()) {
    if (entries_.size() < keys_max_) entries_.emplace(key_, Entry{now, 0, level});
    return true;
  }
  Entry& entry = it->second;
  if (now - entry.last_written < interval_) {
    ++entry.suppressed;
    return false;
  }
  *suppressed = entry.suppressed;
  *over = now - entry.last_written;
  entry = Entry{now, 0, level};
  return true;
}

std::vector<RepeatSummarizer::Summary> RepeatSummarizer::TakeDue(absl::Time now) {
  std::vector<Summary> due;
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& entry = it->second;
    if (now - entry.last_written < interval_) {
      ++it;
      continue;
    }
    if (entry.suppressed == 0) {
      entries_.erase(it++);
      continue;
    }
    size_t separator = it->first.find(kKeySeparator);
    due.push_back(Summary{it->first.substr(0, separator), it->first.substr(separator + 1),
                          entry.level, entry.suppressed, now - entry.last_written});
    entry = Entry{now, 0, entry.level};
    ++it;
  }
  return due;
}

}  // namespace etrnd
