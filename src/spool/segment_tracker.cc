#include "etrnd/spool/segment_tracker.h"

#include <algorithm>

#include "etrnd/common/check.h"

namespace etrnd::spool {
namespace {

// The most records one scan looks at (a cap that no segment reaches).
constexpr size_t kScanAll = size_t{1} << 40;

}  // namespace

void SegmentTracker::AddMessage(const RecordLocation& location, uint32_t live_recipients) {
  State& state = segments_[SegmentKey{location.core, location.segment_id}];
  if (!state.messages.empty() && state.messages.back().offset >= location.offset) {
    state.sorted = false;
  }
  state.messages.push_back(Message{location.offset, location.length, live_recipients});
  state.total_bytes += location.length;
  state.live_recipients += live_recipients;
  if (live_recipients > 0) {
    state.live_bytes += location.length;
    ++state.live_messages;
  }
}

void SegmentTracker::NoteFileBytes(SegmentKey segment, uint64_t bytes) {
  State& state = segments_[segment];
  state.total_bytes = std::max(state.total_bytes, bytes);
}

void SegmentTracker::SortMessages(State& state) {
  if (state.sorted) return;
  std::sort(state.messages.begin(), state.messages.end(),
            [](const Message& a, const Message& b) { return a.offset < b.offset; });
  state.sorted = true;
}

SegmentTracker::Message* SegmentTracker::FindMessage(State& state, uint64_t offset) {
  SortMessages(state);
  auto it = std::lower_bound(
      state.messages.begin(), state.messages.end(), offset,
      [](const Message& message, uint64_t wanted) { return message.offset < wanted; });
  if (it == state.messages.end() || it->offset != offset) return nullptr;
  return &*it;
}

void SegmentTracker::FinishRecipient(const RecordLocation& location) {
  const SegmentKey segment{location.core, location.segment_id};
  auto it = segments_.find(segment);
  Message* message = it == segments_.end() ? nullptr : FindMessage(it->second, location.offset);
  // The queue finishes a recipient here only once (its index drops it
  // first); a second finish would let GC delete a segment with live mail.
  ETRND_CHECK(message != nullptr && message->live_recipients > 0);
  State& state = it->second;
  --message->live_recipients;
  --state.live_recipients;
  if (message->live_recipients == 0) {
    state.live_bytes -= message->length;
    --state.live_messages;
  }
  ReportIfDeletable(segment, state);
}

void SegmentTracker::Seal(SegmentKey segment, absl::Time now) {
  State& state = segments_[segment];
  state.sealed = true;
  state.sealed_at = now;
  sealed_.insert(segment);
  ReportIfDeletable(segment, state);
}

void SegmentTracker::Pin(SegmentKey segment) {
  auto it = segments_.find(segment);
  ETRND_CHECK(it != segments_.end());
  ++it->second.pins;
}

void SegmentTracker::Unpin(SegmentKey segment) {
  auto it = segments_.find(segment);
  ETRND_CHECK(it != segments_.end() && it->second.pins > 0);
  --it->second.pins;
  ReportIfDeletable(segment, it->second);
}

void SegmentTracker::ReportIfDeletable(SegmentKey segment, const State& state) {
  if (!state.sealed || state.live_recipients != 0 || state.pins > 0) return;
  sealed_.erase(segment);
  segments_.erase(segment);
  deletable_.push_back(segment);
}

std::vector<SegmentKey> SegmentTracker::TakeDeletable() {
  std::vector<SegmentKey> deletable;
  deletable.swap(deletable_);
  return deletable;
}

uint64_t SegmentTracker::LiveRecipients(SegmentKey segment) const {
  auto it = segments_.find(segment);
  return it == segments_.end() ? 0 : it->second.live_recipients;
}

uint64_t SegmentTracker::LiveBytes(SegmentKey segment) const {
  auto it = segments_.find(segment);
  return it == segments_.end() ? 0 : it->second.live_bytes;
}

SegmentUsage SegmentTracker::UsageOf(SegmentKey segment, const State& state) const {
  return SegmentUsage{segment, state.total_bytes, state.live_bytes, state.live_messages,
                      state.sealed_at};
}

std::vector<SegmentUsage> SegmentTracker::SealedUsage() const {
  std::vector<SegmentUsage> usage;
  for (const auto& [segment, state] : segments_) {
    if (!state.sealed || state.live_recipients == 0) continue;
    usage.push_back(UsageOf(segment, state));
  }
  return usage;
}

bool SegmentTracker::SealedUsageAfter(std::optional<SegmentKey>* cursor, size_t budget,
                                      std::vector<SegmentUsage>* out) const {
  ETRND_CHECK(budget > 0);
  auto it = cursor->has_value() ? sealed_.upper_bound(**cursor) : sealed_.begin();
  for (; it != sealed_.end() && budget > 0; ++it, --budget) {
    const State& state = segments_.at(*it);
    ETRND_CHECK(state.sealed);
    if (state.live_recipients > 0) out->push_back(UsageOf(*it, state));
    *cursor = *it;
  }
  if (it != sealed_.end()) return false;
  cursor->reset();
  return true;
}

bool SegmentTracker::ScanLiveMessages(SegmentKey segment, size_t* cursor, size_t scan_max,
                                      std::vector<RecordLocation>* out) {
  auto it = segments_.find(segment);
  if (it == segments_.end()) return false;
  State& state = it->second;
  SortMessages(state);
  const size_t end = std::min(state.messages.size(), *cursor + std::min(scan_max, kScanAll));
  for (; *cursor < end; ++*cursor) {
    const Message& message = state.messages[*cursor];
    if (message.live_recipients == 0) continue;
    out->push_back(
        RecordLocation{segment.core, segment.segment_id, message.offset, message.length});
  }
  return *cursor < state.messages.size();
}

std::vector<RecordLocation> SegmentTracker::LiveMessages(SegmentKey segment) {
  std::vector<RecordLocation> live;
  size_t cursor = 0;
  while (ScanLiveMessages(segment, &cursor, kScanAll, &live)) {
  }
  return live;
}

}  // namespace etrnd::spool
