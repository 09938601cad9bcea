// Compaction while running, on one core: a sealed segment of this core that
// is mostly dead (a few messages of held or unreachable domains pinning it,
// spool::ChooseCompactionVictim, looked for kCompactionChooseSlice segments
// per loop turn) has its live messages moved to the core's
// current segment, so it and the completion logs that point into it can go.
// Disk use then follows what is queued, not what has passed.
//
// One message moves in four steps, each durable before the next:
//  1. read the record through the core's ring (SpoolReader);
//  2. ask each recipient domain's owner core which recipients are still
//     queued (none moves while its domain is in a flush job or ODMR turn, or
//     when it is about to expire: it is skipped and retried later);
//  3. append a copy with only those recipients (same queue id, sender,
//     arrival time and body; flagged relocated), group-committed and
//     fdatasync'ed like any message;
//  4. each owner swaps its index entry to the copy (refused if anything
//     changed meanwhile); then completion records (kMoved) finish the old
//     location's moved recipients, or the copy's refused ones.
// A crash between 3 and 4 leaves two live copies: recovery keeps the newest
// (spool/relocated_copies.h). At worst a recipient is delivered twice, as
// with any crash; none is lost.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etrnd/spool/compaction_policy.h"
#include "etrnd/spool/spool_files.h"
#include "etrnd/spool/spool_record.h"

namespace etrnd::server {

class Core;

// How often a core looks for a victim when it has none.
inline constexpr absl::Duration kCompactionInterval = absl::Seconds(1);
// Messages of the victim being moved at once (reads, copies, swaps): bounds
// the bodies in memory and the work a loop turn can be handed.
inline constexpr size_t kCompactionMovesInFlightMax = 16;
// Records of the victim looked at per loop turn to find its live messages.
inline constexpr size_t kCompactionScanSlice = 4096;
// A victim is not chosen again before this: its kMoved completions are
// being written (then GC removes it), or the messages it kept are in flight.
inline constexpr absl::Duration kCompactionRetryDelay = absl::Seconds(30);

class SegmentCompactor {
 public:
  explicit SegmentCompactor(Core& core);
  ~SegmentCompactor();
  SegmentCompactor(const SegmentCompactor&) = delete;
  SegmentCompactor& operator=(const SegmentCompactor&) = delete;

  // Arms the first look for a victim (no-op with --compaction_live_percent=0).
  void Start();
  void Stop() { stopped_ = true; }

  // Where the environment's ETRND_TEST_COMPACTION_ABORT (copy, swap,
  // completion) makes the process abort: deterministic crash tests only.
  // (ETRND_TEST_COMPACTION_SWAP_DELAY_MS=N, also for tests: the first
  // move's swap waits N ms after its copy is durable.)
  enum class CrashPoint { kNone, kAfterCopy, kAfterSwap, kAfterFirstCompletion };

 private:
  struct Move;
  struct Victim;

  void Tick();
  void Pump();
  void OnRead(const std::shared_ptr<Move>& move, absl::StatusOr<spool::SpoolMessage> message);
  void Query(const std::shared_ptr<Move>& move);
  void OnQueried(const std::shared_ptr<Move>& move);
  void OnStored(const std::shared_ptr<Move>& move, absl::StatusOr<spool::RecordLocation> to);
  // Step 4: each owner of a part with recipients swaps (or refuses).
  void AskSwaps(const std::shared_ptr<Move>& move);
  void OnSwapped(const std::shared_ptr<Move>& move);
  enum class Outcome {
    kMoved,  // the message lives in its copy now
    kKept,   // stays where it is (in flight, about to expire, a failure)
    kGone,   // nothing of it was queued any more
  };
  void Finish(const std::shared_ptr<Move>& move, Outcome outcome);
  // The victim is pinned in the tracker while held: by itself until
  // FinishVictim, and by each move until its outcome is durable.
  void Hold(spool::SegmentKey segment);
  void Release(spool::SegmentKey segment);
  void ReleaseMove(const std::shared_ptr<Move>& move);  // once per move
  void FinishVictim();

  Core& core_;
  const spool::CompactionPolicy policy_;
  std::unique_ptr<Victim> victim_;           // the segment being compacted, if any
  spool::CompactionVictimWalk victim_walk_;  // looking for the next one
  // Victims not to choose again before the given time.
  absl::flat_hash_map<spool::SegmentKey, absl::Time> retry_after_;
  // Holds on victims (this one, and earlier ones whose moves' completions
  // are still being written); the tracker pin goes with the last.
  absl::flat_hash_map<spool::SegmentKey, size_t> holds_;
  const CrashPoint crash_point_;
  // ETRND_TEST_COMPACTION_SWAP_DELAY_MS: this core's first move's swap waits
  // that long (then zero: used once). Tests only.
  absl::Duration test_swap_delay_;
  bool stopped_ = false;
};

}  // namespace etrnd::server
