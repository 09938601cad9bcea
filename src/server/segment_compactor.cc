#include "etrnd/server/segment_compactor.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/config/domain_name.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/queue/domain_queue_index.h"
#include "etrnd/server/core.h"

namespace etrnd::server {
namespace {

// Crash injection for the integration tests (test_compaction.py): abort at
// one step of the first move, so a kill at that exact point is tested.
SegmentCompactor::CrashPoint CrashPointFromEnvironment() {
  const char* value = std::getenv("ETRND_TEST_COMPACTION_ABORT");
  const std::string_view point = value == nullptr ? "" : value;
  if (point == "copy") return SegmentCompactor::CrashPoint::kAfterCopy;
  if (point == "swap") return SegmentCompactor::CrashPoint::kAfterSwap;
  if (point == "completion") return SegmentCompactor::CrashPoint::kAfterFirstCompletion;
  return SegmentCompactor::CrashPoint::kNone;
}

// Test hook (test_compaction_delete.py): each core's first move's swap is asked for this
// long after its copy is durable, so a test can act (an etrnctl delete, a
// kill -9) between the copy and the swap. Off unless the variable is set.
absl::Duration SwapDelayFromEnvironment() {
  const char* value = std::getenv("ETRND_TEST_COMPACTION_SWAP_DELAY_MS");
  return value == nullptr ? absl::ZeroDuration() : absl::Milliseconds(std::atoi(value));
}

void CrashIf(bool crash, const char* where) {
  if (!crash) return;
  std::fprintf(stderr, "etrnd: ETRND_TEST_COMPACTION_ABORT: aborting %s\n", where);
  std::abort();
}

spool::SegmentKey SegmentOf(const spool::RecordLocation& location) {
  return spool::SegmentKey{location.core, location.segment_id};
}

std::string LowerDomainOf(std::string_view address) {
  const size_t at = address.rfind('@');
  return at == std::string_view::npos ? "" : config::AsciiLower(address.substr(at + 1));
}

}  // namespace

// One message of the victim on its way to the current segment.
struct SegmentCompactor::Move {
  // The recipients of one domain, asked of and swapped at its owner core.
  struct Part {
    std::string domain;
    size_t owner = 0;
    std::vector<uint32_t> all_indexes;  // the domain's recipients in the record
    std::vector<uint32_t> old_indexes;  // still queued (the owner says)
    std::vector<uint32_t> new_indexes;  // the same in the copy
    bool swapped = false;
  };
  spool::RecordLocation from;
  spool::RecordLocation to;
  spool::SpoolMessage message;
  std::vector<Part> parts;
  size_t replies_pending = 0;
  bool busy = false;  // some owner said not now
  // kMoved completions not yet durable: the victim stays until they are.
  size_t completions_pending = 0;
  bool released = false;  // its hold on the victim (ReleaseMove)
};

struct SegmentCompactor::Victim {
  spool::SegmentKey segment;
  uint64_t total_bytes = 0;
  uint64_t live_bytes = 0;
  // Its live messages, found kCompactionScanSlice records at a time.
  std::vector<spool::RecordLocation> live;
  size_t next = 0;         // into live
  size_t scan_cursor = 0;  // into the tracker's records of the segment
  bool scan_more = true;
  size_t in_flight = 0;
  size_t moved = 0;
  size_t kept = 0;  // skipped or failed: stay where they are
  absl::Time started;
};

SegmentCompactor::SegmentCompactor(Core& core)
    : core_(core),
      policy_(spool::CompactionPolicy{
          .live_percent_max = core.context().options.compaction_live_percent,
          .min_age = spool::kCompactionMinAge}),
      crash_point_(CrashPointFromEnvironment()),
      test_swap_delay_(SwapDelayFromEnvironment()) {}

SegmentCompactor::~SegmentCompactor() = default;

void SegmentCompactor::Start() {
  if (policy_.live_percent_max == 0) return;
  core_.reactor().RunAfter(kCompactionInterval, [this] { Tick(); });
}

void SegmentCompactor::Tick() {
  if (stopped_) return;
  ETRND_CHECK(victim_ == nullptr);
  const absl::Time now = absl::Now();
  absl::erase_if(retry_after_, [now](const auto& entry) { return entry.second <= now; });
  // One slice of the sealed segments per turn: O(kCompactionChooseSlice),
  // whatever the spool holds.
  const spool::CompactionVictimWalk::Step step = victim_walk_.Next(
      core_.queue().segment_tracker(), policy_, now,
      [this](spool::SegmentKey segment) { return retry_after_.contains(segment); });
  if (!step.pass_done) {
    core_.reactor().Post([this] { Tick(); });
    return;
  }
  if (!step.victim.has_value()) {
    core_.reactor().RunAfter(kCompactionInterval, [this] { Tick(); });
    return;
  }
  victim_ = std::make_unique<Victim>();
  victim_->segment = step.victim->segment;
  // Kept on disk, even once empty, until every move's outcome is durable
  // (Hold/Release): a copy is only safe alone once it says it was moved.
  core_.queue().segment_tracker().Pin(victim_->segment);
  Hold(victim_->segment);
  victim_->started = now;
  victim_->total_bytes = step.victim->total_bytes;
  victim_->live_bytes = step.victim->live_bytes;
  Pump();
}

void SegmentCompactor::Pump() {
  ETRND_CHECK(victim_ != nullptr);
  Victim& victim = *victim_;
  if (victim.next == victim.live.size() && victim.scan_more && !stopped_) {
    victim.live.clear();
    victim.next = 0;
    victim.scan_more = core_.queue().segment_tracker().ScanLiveMessages(
        victim.segment, &victim.scan_cursor, kCompactionScanSlice, &victim.live);
    if (victim.live.empty() && victim.scan_more) {
      // A slice of dead records only: the next one in a later turn.
      // (The victim may be done by then, through a move that finished.)
      core_.reactor().Post([this] {
        if (victim_ != nullptr) Pump();
      });
      return;
    }
  }
  while (!stopped_ && victim.in_flight < kCompactionMovesInFlightMax &&
         victim.next < victim.live.size()) {
    auto move = std::make_shared<Move>();
    move->from = victim.live[victim.next++];
    ++victim.in_flight;
    Hold(victim.segment);
    core_.queue().reader().Read(move->from,
                                [this, move](absl::StatusOr<spool::SpoolMessage> message) {
                                  OnRead(move, std::move(message));
                                });
  }
  ETRND_CHECK(victim.in_flight <= kCompactionMovesInFlightMax);
  if (victim.in_flight == 0 && (!victim.scan_more || stopped_)) FinishVictim();
}

void SegmentCompactor::OnRead(const std::shared_ptr<Move>& move,
                              absl::StatusOr<spool::SpoolMessage> message) {
  if (!message.ok()) {
    if (!absl::IsCancelled(message.status())) {
      ETRND_LOG_ERROR("compaction: cannot read %d/%d/%d: %s", move->from.core,
                      move->from.segment_id, move->from.offset,
                      std::string(message.status().message()));
    }
    Finish(move, Outcome::kKept);
    return;
  }
  move->message = std::move(*message);
  const size_t shards = core_.context().core_count();
  for (uint32_t i = 0; i < move->message.recipients.size(); ++i) {
    std::string domain = LowerDomainOf(move->message.recipients[i]);
    auto part = std::find_if(move->parts.begin(), move->parts.end(),
                             [&](const Move::Part& p) { return p.domain == domain; });
    if (part == move->parts.end()) {
      Move::Part added;
      added.domain = domain;
      added.owner = queue::ShardForDomain(domain, shards);
      move->parts.push_back(std::move(added));
      part = move->parts.end() - 1;
    }
    part->all_indexes.push_back(i);
  }
  Query(move);
}

void SegmentCompactor::Query(const std::shared_ptr<Move>& move) {
  move->replies_pending = move->parts.size();
  Core& home = core_;
  for (size_t p = 0; p < move->parts.size(); ++p) {
    Core& owner = core_.context().core(move->parts[p].owner);
    auto ask = [&owner, &home, move, p, domain = move->parts[p].domain, from = move->from,
                arrival = move->message.arrival_unix_micros] {
      std::optional<std::vector<uint32_t>> live =
          owner.queue().LiveForRelocation(domain, from, arrival);
      auto answer = [&home, move, p, live = std::move(live)]() mutable {
        if (live.has_value()) {
          move->parts[p].old_indexes = std::move(*live);
        } else {
          move->busy = true;
        }
        ETRND_CHECK(move->replies_pending > 0);
        if (--move->replies_pending == 0) home.compactor().OnQueried(move);
      };
      if (&owner == &home) {
        answer();
      } else {
        owner.SendTo(home, std::move(answer));
      }
    };
    if (&owner == &home) {
      ask();
    } else {
      core_.SendTo(owner, std::move(ask));
    }
  }
}

void SegmentCompactor::OnQueried(const std::shared_ptr<Move>& move) {
  if (move->busy || stopped_) {
    Finish(move, Outcome::kKept);
    return;
  }
  spool::SpoolMessage copy;
  copy.queue_id = move->message.queue_id;
  copy.arrival_unix_micros = move->message.arrival_unix_micros;
  copy.mail_from = move->message.mail_from;
  copy.relocated = true;
  // Recipients in their original order, so the copy reads like the original.
  std::vector<std::pair<uint32_t, Move::Part*>> live;
  for (Move::Part& part : move->parts) {
    for (uint32_t index : part.old_indexes) live.emplace_back(index, &part);
  }
  if (live.empty()) {  // finished or moved meanwhile: nothing to do
    Finish(move, Outcome::kGone);
    return;
  }
  std::sort(live.begin(), live.end());
  for (auto& [index, part] : live) {
    ETRND_CHECK(index < move->message.recipients.size());
    part->new_indexes.push_back(static_cast<uint32_t>(copy.recipients.size()));
    copy.recipients.push_back(move->message.recipients[index]);
  }
  copy.data = std::move(move->message.data);
  move->message.data.clear();
  core_.StoreRelocated(std::move(copy), [this, move](absl::StatusOr<spool::RecordLocation> to) {
    OnStored(move, std::move(to));
  });
}

void SegmentCompactor::OnStored(const std::shared_ptr<Move>& move,
                                absl::StatusOr<spool::RecordLocation> to) {
  if (!to.ok()) {
    ETRND_LOG_WARNING("compaction: copy of %s not stored: %s", move->message.queue_id,
                      std::string(to.status().message()));
    Finish(move, Outcome::kKept);
    return;
  }
  move->to = *to;
  CrashIf(crash_point_ == CrashPoint::kAfterCopy, "after the copy is durable");
  size_t live = 0;
  for (const Move::Part& part : move->parts) live += part.new_indexes.size();
  core_.queue().segment_tracker().AddMessage(move->to, static_cast<uint32_t>(live));
  if (test_swap_delay_ > absl::ZeroDuration()) {
    const absl::Duration delay = std::exchange(test_swap_delay_, absl::ZeroDuration());
    ETRND_LOG_WARNING(
        "compaction: ETRND_TEST_COMPACTION_SWAP_DELAY_MS: copy of %s durable at "
        "%d/%d/%d, swap in %s",
        move->message.queue_id, move->to.core, move->to.segment_id, move->to.offset,
        absl::FormatDuration(delay));
    core_.reactor().RunAfter(delay, [this, move] {
      ETRND_LOG_WARNING(
          "compaction: ETRND_TEST_COMPACTION_SWAP_DELAY_MS: asking for the swap "
          "of %s",
          move->message.queue_id);
      AskSwaps(move);
    });
    return;
  }
  AskSwaps(move);
}

void SegmentCompactor::AskSwaps(const std::shared_ptr<Move>& move) {
  // Every part with recipients is asked to swap, even when stopping: the
  // copy is durable now and either it or the original must be finished.
  Core& home = core_;
  move->replies_pending = 0;
  for (const Move::Part& part : move->parts) {
    if (!part.old_indexes.empty()) ++move->replies_pending;
  }
  for (size_t p = 0; p < move->parts.size(); ++p) {
    const Move::Part& part = move->parts[p];
    if (part.old_indexes.empty()) continue;
    Core& owner = core_.context().core(part.owner);
    auto swap = [&owner, &home, move, p, domain = part.domain, from = move->from, to = move->to,
                 old_indexes = part.old_indexes, new_indexes = part.new_indexes,
                 arrival = move->message.arrival_unix_micros] {
      const bool swapped =
          owner.queue().SwapRelocated(domain, from, to, old_indexes, new_indexes, arrival);
      auto answer = [&home, move, p, swapped] {
        move->parts[p].swapped = swapped;
        ETRND_CHECK(move->replies_pending > 0);
        if (--move->replies_pending == 0) home.compactor().OnSwapped(move);
      };
      if (&owner == &home) {
        answer();
      } else {
        owner.SendTo(home, std::move(answer));
      }
    };
    if (&owner == &home) {
      swap();
    } else {
      core_.SendTo(owner, std::move(swap));
    }
  }
}

void SegmentCompactor::OnSwapped(const std::shared_ptr<Move>& move) {
  CrashIf(crash_point_ == CrashPoint::kAfterSwap, "after the index swap");
  bool any_swapped = false;
  for (const Move::Part& part : move->parts) {
    move->completions_pending += (part.swapped ? part.old_indexes : part.new_indexes).size();
  }
  for (const Move::Part& part : move->parts) {
    // Moved: the original's recipients are finished; refused: the copy's.
    const spool::RecordLocation& finished = part.swapped ? move->from : move->to;
    const std::vector<uint32_t>& indexes = part.swapped ? part.old_indexes : part.new_indexes;
    any_swapped |= part.swapped;
    for (uint32_t index : indexes) {
      spool::SpoolCompletion completion{finished.core, finished.segment_id, finished.offset, index,
                                        spool::RecipientOutcome::kMoved};
      core_.AppendCompletion(completion, [this, move, finished](absl::Status status) {
        if (!status.ok()) {
          // Both copies stay live on disk, and the victim stays held (not
          // released): recovery keeps one.
          ETRND_LOG_ERROR("compaction: completion log write failed: %s",
                          std::string(status.message()));
          return;
        }
        CrashIf(crash_point_ == CrashPoint::kAfterFirstCompletion, "after a kMoved completion");
        core_.queue().SegmentRecipientFinished(finished);
        ETRND_CHECK(move->completions_pending > 0);
        if (--move->completions_pending == 0) ReleaseMove(move);
      });
    }
  }
  Finish(move, any_swapped ? Outcome::kMoved : Outcome::kKept);
}

void SegmentCompactor::Hold(spool::SegmentKey segment) { ++holds_[segment]; }

void SegmentCompactor::Release(spool::SegmentKey segment) {
  auto it = holds_.find(segment);
  ETRND_CHECK(it != holds_.end() && it->second > 0);
  if (--it->second > 0) return;
  holds_.erase(it);
  core_.queue().UnpinSegment(segment);
}

void SegmentCompactor::ReleaseMove(const std::shared_ptr<Move>& move) {
  if (std::exchange(move->released, true)) return;
  Release(SegmentOf(move->from));
}

void SegmentCompactor::Finish(const std::shared_ptr<Move>& move, Outcome outcome) {
  ETRND_CHECK(victim_ != nullptr && victim_->in_flight > 0);
  --victim_->in_flight;
  // A move with completions on their way is released by the last of them.
  if (move->completions_pending == 0) ReleaseMove(move);
  switch (outcome) {
    case Outcome::kMoved:
      ++victim_->moved;
      ++core_.metrics().spool_compacted_messages;
      break;
    case Outcome::kKept:
      ++victim_->kept;
      break;
    case Outcome::kGone:
      break;
  }
  Pump();
}

void SegmentCompactor::FinishVictim() {
  ETRND_CHECK(victim_ != nullptr && victim_->in_flight == 0);
  const Victim& victim = *victim_;
  ++core_.metrics().spool_compacted_segments;
  ETRND_LOG_INFO_EVENT(
      "compacted",
      {{"segment", absl::StrFormat("seg-%d-%d", victim.segment.core, victim.segment.segment_id)},
       {"moved", victim.moved},
       {"kept", victim.kept},
       {"live_bytes", victim.live_bytes},
       {"segment_bytes", victim.total_bytes}},
      "compaction: seg-%d-%d (%d of %d bytes live): %d messages moved, %d kept "
      "in %s",
      victim.segment.core, victim.segment.segment_id, victim.live_bytes, victim.total_bytes,
      victim.moved, victim.kept, absl::FormatDuration(absl::Now() - victim.started));
  // Not chosen again at once: its kMoved completions are still being
  // written (then GC removes it), or it kept messages that are in flight.
  retry_after_[victim.segment] = absl::Now() + kCompactionRetryDelay;
  const spool::SegmentKey segment = victim.segment;
  victim_.reset();
  Release(segment);
  if (stopped_) return;
  // The next victim, if any, in a later turn.
  core_.reactor().Post([this] { Tick(); });
}

}  // namespace etrnd::server
