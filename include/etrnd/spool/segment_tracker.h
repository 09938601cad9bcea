// Segment garbage collection and compaction accounting: counts the live
// (unfinished) recipients and the live bytes of the messages in each segment.
// A segment is deletable once it is sealed (its appender rolled away and
// every batch finished; see RecordLogAppender::TakeSealedFiles) and its count
// is zero. A sealed segment whose live bytes are a small part of it is a
// compaction victim (compaction_policy.h): its live messages are listed here.
// Single-threaded.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "etrnd/spool/spool_files.h"
#include "etrnd/spool/spool_record.h"

namespace etrnd::spool {

// What compaction needs to know of one sealed segment.
struct SegmentUsage {
  SegmentKey segment;
  uint64_t total_bytes = 0;  // every record ever counted (dead ones too)
  uint64_t live_bytes = 0;   // records with at least one live recipient
  uint64_t live_messages = 0;
  absl::Time sealed_at = absl::InfinitePast();
};

class SegmentTracker {
 public:
  // A message became durable (or was recovered) with `live_recipients`
  // unfinished recipients; location.length is its record's size.
  void AddMessage(const RecordLocation& location, uint32_t live_recipients);
  // Recovery: the segment file's size, dead records included (the file is
  // that big on disk whatever is still live in it).
  void NoteFileBytes(SegmentKey segment, uint64_t bytes);
  // One recipient of the message at `location` is finished (its completion
  // record is durable).
  void FinishRecipient(const RecordLocation& location);
  // The segment will never be appended to again.
  void Seal(SegmentKey segment, absl::Time now = absl::InfinitePast());

  // While pinned (a count), an empty sealed segment is kept: compaction
  // holds its victim until every move's outcome is durable, or recovery
  // could find a copy without the original that says it was finished.
  void Pin(SegmentKey segment);
  void Unpin(SegmentKey segment);

  // Segments that became deletable since the last call. The caller unlinks
  // them, then fsyncs the directory.
  std::vector<SegmentKey> TakeDeletable();

  // True while the segment may still be read (not yet reported deletable).
  bool Exists(SegmentKey segment) const { return segments_.contains(segment); }
  uint64_t LiveRecipients(SegmentKey segment) const;
  uint64_t LiveBytes(SegmentKey segment) const;
  size_t segment_count() const { return segments_.size(); }
  // Sealed segments that still hold live mail: the compaction candidates.
  // O(segments) at once (tests); the compactor walks them with
  // SealedUsageAfter instead.
  std::vector<SegmentUsage> SealedUsage() const;
  // One slice of a walk over the sealed segments in key order: looks at up
  // to `budget` of them after *cursor (nullopt: from the first) and appends
  // those still holding live mail to `out`. Returns true once the walk has
  // reached the end (*cursor is nullopt again). Segments sealed or removed
  // between slices are found or skipped, never visited twice in one walk.
  bool SealedUsageAfter(std::optional<SegmentKey>* cursor, size_t budget,
                        std::vector<SegmentUsage>* out) const;
  // Looks at up to `scan_max` of the segment's records from *cursor (a
  // position in offset order) and appends the live ones to `out`; false
  // once the end is reached. A sealed segment's records do not change
  // order, so the cursor stays valid across calls.
  bool ScanLiveMessages(SegmentKey segment, size_t* cursor, size_t scan_max,
                        std::vector<RecordLocation>* out);
  // All of them at once (tests).
  std::vector<RecordLocation> LiveMessages(SegmentKey segment);

 private:
  // One message record: 16 bytes, kept until its segment is deleted.
  struct Message {
    uint64_t offset;
    uint32_t length;
    uint32_t live_recipients;
  };
  struct State {
    uint64_t live_recipients = 0;
    uint64_t live_bytes = 0;
    uint64_t live_messages = 0;
    uint64_t total_bytes = 0;
    bool sealed = false;
    bool sorted = true;
    uint32_t pins = 0;  // messages in offset order (appends normally are)
    absl::Time sealed_at = absl::InfinitePast();
    std::vector<Message> messages;
  };
  void ReportIfDeletable(SegmentKey segment, const State& state);
  static Message* FindMessage(State& state, uint64_t offset);
  static void SortMessages(State& state);

  struct KeyOrder {
    bool operator()(const SegmentKey& a, const SegmentKey& b) const {
      return a.core != b.core ? a.core < b.core : a.segment_id < b.segment_id;
    }
  };
  SegmentUsage UsageOf(SegmentKey segment, const State& state) const;

  absl::flat_hash_map<SegmentKey, State> segments_;
  absl::btree_set<SegmentKey, KeyOrder> sealed_;  // the sealed ones of segments_
  std::vector<SegmentKey> deletable_;
};

}  // namespace etrnd::spool
