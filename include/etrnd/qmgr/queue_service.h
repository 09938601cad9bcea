// qmgr: what happens to a message after it is stored (in the spirit of
// Postfix's qmgr): per-domain scheduling, flush jobs, delivery connections,
// bounces, the expiry sweep and ODMR turn jobs. It runs on a core's reactor
// thread and must never block it (spool reads go through the ring, every
// walk over queue contents runs in bounded slices); it holds no SMTP
// parsing of its own (src/smtp) and no wiring (src/server).
//
// A core's part of the queue: the shard of the domain queue index for the
// domains this core owns (by hash), their delivery schedule, and the
// delivery worker that flushes them to their next hop. Only the owner core
// touches a domain's state; other cores send it work through
// CoreServices::SendToQueue().
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "etrnd/common/net_address.h"
#include "etrnd/config/domains_table.h"
#include "etrnd/etrn/atrn_policy.h"
#include "etrnd/etrn/etrn_policy.h"
#include "etrnd/qmgr/core_services.h"
#include "etrnd/queue/domain_queue_index.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/smtp/client_session.h"
#include "etrnd/spool/segment_tracker.h"
#include "etrnd/spool/spool_reader.h"
#include "etrnd/spool/spool_record.h"
#include "etrnd/spool/spool_recovery.h"

namespace etrnd::qmgr {

class ConnectGate;

struct EtrnShardResult {
  size_t messages = 0;
  bool refused_for_resources = false;  // 458
  bool held = false;                   // (part of) the 458: etrnctl hold
  bool starts = false;                 // FlushForEtrn starts flushes for it
};

// (Part of) one shard's part of an ATRN: jobs started here, their messages.
struct TurnShardResult {
  size_t messages = 0;
  size_t jobs = 0;
};

// One queued (domain, message) pair of this core, as etrnctl sees it.
struct QueuedEntry {
  const std::string& domain;
  uint64_t queue_id;  // control::ParseQueueId of the message's id; 0 if none
  int64_t arrival_unix_micros;
  spool::RecordLocation location;
  const queue::RecipientIndexSet& recipients;  // queued in this domain
};

class QueueService {
 public:
  explicit QueueService(CoreServices& core);
  ~QueueService();

  // Start-up: this core's domains and segments from the recovered spool.
  void LoadRecovered(const spool::RecoveryResult& recovered);
  // On the core that stored the message, once it is durable: tells each
  // recipient domain's owner core, and tracks the segment for GC.
  void OnMessageDurable(const spool::RecordLocation& location, const spool::SpoolMessage& envelope);
  // ETRN on this shard (etrn_flush.cc): the plan's counts here, from the
  // index's aggregates (O(table entries in scope), not O(queued)); the
  // matched domains' flushes start afterwards, in slices.
  // `operator_request` (etrnctl flush): no etrn= list applies.
  EtrnShardResult FlushForEtrn(const etrn::EtrnPlan& plan, const IpAddress& client,
                               bool operator_request = false);
  // What FlushForEtrn would answer, starting nothing: an ETRN is counted
  // while the client's rate limit is checked on another core, and flushed
  // once it is allowed.
  EtrnShardResult CountForEtrn(const etrn::EtrnPlan& plan, const IpAddress& client,
                               bool operator_request = false);
  void OnTableChanged();
  void Stop();

  // ODMR (turn_jobs.cc), owner-core side. Starts a turn job for each of
  // the plan's domains queued on this shard (not held, no flush running):
  // its batches go to the turn `turn_id` on `turn_core`. The domains are
  // walked kTurnStartSlice per loop turn; after each slice `counted` gets
  // the jobs that slice started (and their messages), `last` on the final
  // one, before any of those jobs can send a batch or end.
  using TurnCounted = std::function<void(TurnShardResult started, bool last)>;
  void StartTurn(const etrn::AtrnPlan& plan, const std::string& user, const std::string& client,
                 int turn_core, uint64_t turn_id, TurnCounted counted);
  // From the turn's core: recipients answered by the customer (tokens are
  // the job's), then a batch the turn is done with (the job's bodies may go).
  void OnTurnOutcomes(uint64_t job_id, const std::vector<smtp::RecipientOutcome>& outcomes);
  void OnTurnBatchDone(uint64_t job_id, const std::vector<size_t>& tokens);

  // Owner-core side (other cores reach it through CoreServices::SendToQueue).
  // `routed_when_unserved`: a bounce or postmaster mail, which may go by MX
  // to a domain outside the table.
  void AddRecipients(const std::string& domain, const spool::RecordLocation& location,
                     std::vector<uint32_t> recipient_indexes, int64_t arrival_unix_micros,
                     bool routed_when_unserved, uint64_t queue_id);
  // Segment-core side: GC of this core's segment files.
  void SegmentRecipientFinished(const spool::RecordLocation& location);
  void SealSegment(uint64_t segment_id);
  // Any core: a segment GC is deleting leaves this core's read cache.
  void EvictSegment(spool::SegmentKey segment);
  // This core's reader of spool records (etrnctl's reads share its cache).
  spool::SpoolReader& spool_reader() { return reader_; }

  // Compaction (segment_compactor.cc drives it; relocation.cc is the
  // owner side). The recipients of the message at `location` still queued
  // here for `domain` (maybe none), or nullopt when it must not move now: a
  // flush or ODMR turn of the domain is running, or it is about to expire.
  std::optional<std::vector<uint32_t>> LiveForRelocation(const std::string& domain,
                                                         const spool::RecordLocation& location,
                                                         int64_t arrival_unix_micros) const;
  // While the returned token lives, no message of this core's domains moves
  // (LiveForRelocation says not now, SwapRelocated refuses): an operator's
  // delete or bounce holds it from its scan until its completions are
  // durable, so it finishes what it found where it found it.
  std::shared_ptr<const void> PauseRelocations();
  // Moves the domain's entry from `from` to its durable copy `to`, where
  // recipient old_indexes[i] is new_indexes[i]. False (nothing changed) unless
  // exactly old_indexes are still queued and nothing is in flight; the
  // caller then finishes the copy instead of the original.
  bool SwapRelocated(const std::string& domain, const spool::RecordLocation& from,
                     const spool::RecordLocation& to, const std::vector<uint32_t>& old_indexes,
                     const std::vector<uint32_t>& new_indexes, int64_t arrival_unix_micros);
  // The compactor's hold on its victim ends (SegmentTracker::Unpin): the
  // segment goes if nothing in it is live.
  void UnpinSegment(spool::SegmentKey segment);
  // The segment core's tracker and reader, for its compactor.
  spool::SegmentTracker& segment_tracker() { return segments_; }
  spool::SpoolReader& reader() { return reader_; }

  // etrnctl (src/server/control_service.cc); this core's thread only.
  // Visits at most `budget` (domain, message) pairs from *cursor, an
  // absolute position in arrival order that expiry pops do not shift;
  // returns true once the end is reached. Pairs no longer queued are skipped
  // (they still count against the budget).
  bool ScanQueued(uint64_t* cursor, size_t budget,
                  absl::FunctionRef<void(const QueuedEntry&)> fn) const;
  // The schedule of a domain: control::DomainSummary's state and
  // next_attempt_s, its failed attempts in a row and its last error.
  void DescribeSchedule(const std::string& domain, std::string* state,
                        std::optional<int64_t>* next_attempt_s, int* attempts,
                        std::string* last_error) const;
  // etrnctl hold/release: a held domain is never flushed (ETRN gets 458)
  // until released; a release of a domain that retries starts a flush.
  void SetHeld(const std::string& domain, bool held);
  bool IsHeld(std::string_view domain) const { return index_.IsHeld(domain); }
  size_t held_count() const { return index_.held_count(); }
  size_t flushes_running() const { return flushes_running_; }
  // Every outbound connection of this core's flush jobs starts through it.
  const ConnectGate& connect_gate() const { return *connect_gate_; }
  // Records the outcome durably, then drops the recipient from the index;
  // `settled` runs once the completion record is written (or failed).
  void FinishRecipient(const std::string& domain, const spool::RecordLocation& location,
                       uint32_t recipient_index, spool::RecipientOutcome outcome,
                       std::function<void()> settled);
  // Stores a DSN for `failures` to the sender, then finishes them as bounced
  // (expired: as expired). `settled` runs once all of it is durable.
  void QueueBounce(const spool::SpoolMessage& message, const spool::RecordLocation& location,
                   const std::string& domain,
                   std::vector<std::pair<uint32_t, std::string>> failures,
                   const std::string& remote_mta, bool expired, std::function<void()> settled);

  // Observability (logs, tests).
  size_t queued_domains() const;
  size_t queued_messages() const { return index_.queued_messages_count(); }
  size_t queued_recipients() const { return index_.queued_recipients_count(); }
  // Flush set-up slices run (SetUpFlushSlice), ever.
  uint64_t flush_setup_slices() const { return flush_setup_slices_; }

 private:
  struct DomainState;
  struct FlushJob;
  struct EtrnWalk;
  struct TurnWalk;

  struct ExpiryEntry {
    int64_t arrival_unix_micros;
    DomainState* domain;
    spool::RecordLocation location;
    uint64_t queue_id;  // 8 bytes: etrnctl finds a message by id here
  };

  DomainState& StateOf(const std::string& domain);
  bool RoutedWhenUnserved(const std::string& mail_from, const std::string& domain) const;
  void ScheduleAttempt(const std::string& domain, absl::Duration delay);
  // ETRN (etrn_flush.cc): one domain's flush, now; and one slice of an
  // `@`/`#` walk over the matched domains, which posts the next.
  void FlushOnEtrn(const std::string& domain);
  void EtrnWalkSlice(const std::shared_ptr<EtrnWalk>& walk);
  // A walk's matched domain: its flush starts now (the reply has left).
  void StartFlushForWalk(const std::string& domain);
  void StartFlush(const std::string& domain);
  // Walks the domain's queued messages into the job, kFlushSetupSlice per
  // loop turn (continued by a Post to self).
  void SetUpFlushSlice(const std::shared_ptr<FlushJob>& job);
  void RunFlush(const std::shared_ptr<FlushJob>& job);
  // Reads ahead, then hands loaded messages to connections (or bounces).
  void AdvanceFlush(const std::shared_ptr<FlushJob>& job);
  void IssueReads(const std::shared_ptr<FlushJob>& job);
  void OnItemRead(const std::shared_ptr<FlushJob>& job, size_t token,
                  absl::StatusOr<spool::SpoolMessage> message);
  void LaunchConnections(const std::shared_ptr<FlushJob>& job);
  // The next batch of at most `want` loaded messages (retries first); false
  // when the job should wait for more reads before sending one.
  bool TakeBatch(const std::shared_ptr<FlushJob>& job, size_t want,
                 std::vector<smtp::OutboundMessage>* batch, std::vector<size_t>* tokens);
  // ODMR turns (turn_jobs.cc): one slice of StartTurn's walk, which posts
  // the next; one domain's job.
  void TurnWalkSlice(const std::shared_ptr<TurnWalk>& walk);
  void StartTurnJob(const std::string& domain, const std::string& user, const std::string& client,
                    int turn_core, uint64_t turn_id);
  void LaunchTurnBatches(const std::shared_ptr<FlushJob>& job);
  void FinishTurnJob(const std::shared_ptr<FlushJob>& job);
  // tls_failed_at: the target whose opportunistic TLS handshake failed on
  // this connection (its messages go there again, in clear), or npos.
  void OnConnectionFinished(const std::shared_ptr<FlushJob>& job, const std::vector<size_t>& tokens,
                            size_t tls_failed_at);
  // The route cannot exist (no such domain, null MX): every recipient bounces.
  void BounceWholeFlush(const std::shared_ptr<FlushJob>& job, const std::string& reply);
  void BounceLoaded(const std::shared_ptr<FlushJob>& job);
  void OnOutcome(const std::shared_ptr<FlushJob>& job, const smtp::RecipientOutcome& outcome);
  void MaybeFinishFlush(const std::shared_ptr<FlushJob>& job);
  void FinishFlush(const std::shared_ptr<FlushJob>& job);
  // Counts one more completion the job waits for; run the result when done.
  std::function<void()> Settler(const std::shared_ptr<FlushJob>& job);
  void SweepExpired();
  // One slice of due entries; the next slice starts once its reads are done.
  void SweepExpiredSlice();
  void BounceExpired(DomainState* state, const spool::RecordLocation& location,
                     absl::StatusOr<spool::SpoolMessage> message);

  void CollectGarbage();
  // Where an expiry entry's message is now: compaction may have moved it
  // (relocation.cc); ForgetMoved drops that when the entry is popped.
  spool::RecordLocation CurrentLocation(const ExpiryEntry& entry) const;
  void ForgetMoved(const ExpiryEntry& entry);
  // True when the message is due for expiry soon: compaction leaves it be.
  bool ExpiresSoon(int64_t arrival_unix_micros) const;
  // One kTableReindexSlice of OnTableChanged's walk; posts the next.
  void ReindexSlice();

  CoreServices& core_;
  queue::DomainQueueIndex index_;
  absl::flat_hash_map<std::string, std::unique_ptr<DomainState>> domains_;
  // The same states in creation order (never erased): a cursor into it
  // survives insertions, so a reload walks the domains in slices.
  std::vector<DomainState*> domain_order_;
  // The reload walk in progress (ReindexSlice): next position, domains found
  // with mail but no table entry so far; restarted by a newer reload.
  size_t reindex_cursor_ = 0;
  size_t reindex_orphaned_ = 0;
  bool reindex_running_ = false;
  // (domain, message) pairs owned here in arrival order, for expiry. Nearly
  // sorted (posts from other cores interleave), which only delays an expiry
  // by the interleaving.
  std::deque<ExpiryEntry> by_arrival_;
  uint64_t by_arrival_popped_ = 0;  // entries popped from the front, ever
  // Messages compaction moved after their expiry entry was made, per
  // (domain, original location): the entry keeps its arrival position and
  // finds the message here (one hop: chains are folded). Erased when the
  // entry is popped.
  using MovedKey = std::pair<const DomainState*, queue::MessageKey>;
  absl::flat_hash_map<MovedKey, queue::MessageKey> moved_to_;
  absl::flat_hash_map<MovedKey, queue::MessageKey> moved_from_;  // the reverse
  spool::SegmentTracker segments_;
  spool::SpoolReader reader_;
  std::unique_ptr<ConnectGate> connect_gate_;
  size_t expiry_reads_outstanding_ = 0;
  const std::string postmaster_domain_;  // lower case
  size_t flushes_running_ = 0;
  uint64_t flush_setup_slices_ = 0;
  size_t etrn_walks_running_ = 0;
  // ODMR turn jobs running on this core, by job id (queue_turn.cc).
  absl::flat_hash_map<uint64_t, std::shared_ptr<FlushJob>> turn_jobs_;
  uint64_t next_turn_job_id_ = 1;
  // Live PauseRelocations() tokens (shared with them).
  std::shared_ptr<size_t> relocation_pauses_ = std::make_shared<size_t>(0);
  bool stopped_ = false;
};

}  // namespace etrnd::qmgr
