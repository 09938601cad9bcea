#include "etrnd/spool/segment_tracker.h"

#include "etrnd/common/check.h"

namespace etrnd::spool {

void SegmentTracker::AddLiveRecipients(SegmentKey segment, uint64_t count) {
  segments_[segment].live_recipients += count;
}

void SegmentTracker::FinishRecipient(SegmentKey segment) {
  auto it = segments_.find(segment);
  // The queue finishes a recipient here only once (its index drops it
  // first); a second finish would let GC delete a segment with live mail.
  ETRND_CHECK(it != segments_.end() && it->second.live_recipients > 0);
  --it->second.live_recipients;
  ReportIfDeletable(segment, it->second);
}

void SegmentTracker::Seal(SegmentKey segment) {
  State& state = segments_[segment];
  state.sealed = true;
  ReportIfDeletable(segment, state);
}

void SegmentTracker::ReportIfDeletable(SegmentKey segment, const State& state) {
  if (!state.sealed || state.live_recipients != 0) return;
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

}  // namespace etrnd::spool
