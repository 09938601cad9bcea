// Segment garbage collection: counts the live (unfinished) recipients of the
// messages in each segment. A segment is deletable once it is sealed (its
// appender rolled away and every batch finished; see
// RecordLogAppender::TakeSealedFiles) and its count is zero. Single-threaded.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "etrnd/spool/spool_files.h"

namespace etrnd::spool {

class SegmentTracker {
 public:
  // Messages became durable (or were recovered) with `count` live recipients.
  void AddLiveRecipients(SegmentKey segment, uint64_t count);
  // One recipient is finished (its completion record is durable).
  void FinishRecipient(SegmentKey segment);
  // The segment will never be appended to again.
  void Seal(SegmentKey segment);

  // Segments that became deletable since the last call. The caller unlinks
  // them, then fsyncs the directory.
  std::vector<SegmentKey> TakeDeletable();

  // True while the segment may still be read (not yet reported deletable).
  bool Exists(SegmentKey segment) const { return segments_.contains(segment); }
  uint64_t LiveRecipients(SegmentKey segment) const;
  size_t segment_count() const { return segments_.size(); }

 private:
  struct State {
    uint64_t live_recipients = 0;
    bool sealed = false;
  };
  void ReportIfDeletable(SegmentKey segment, const State& state);

  absl::flat_hash_map<SegmentKey, State> segments_;
  std::vector<SegmentKey> deletable_;
};

}  // namespace etrnd::spool
