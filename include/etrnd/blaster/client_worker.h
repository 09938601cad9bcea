// One reactor thread's share of a client run: its message sessions (and an
// ETRN session when --etrn_every is set), its message quota or open-loop
// schedule, and its own stats. Everything here runs on the reactor thread,
// except Snapshot().
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "etrnd/blaster/client_options.h"
#include "etrnd/blaster/client_session.h"
#include "etrnd/blaster/message_generator.h"
#include "etrnd/blaster/rate_scheduler.h"
#include "etrnd/blaster/stats.h"
#include "etrnd/blaster/work_split.h"
#include "etrnd/reactor/reactor.h"

namespace etrnd::blaster {

class SessionHandler;

class ClientWorker {
 public:
  // A slot giving up after this many consecutive failures (connect refused,
  // greeting or EHLO refused) stops retrying.
  static constexpr int kMaxConsecutiveFailures = 5;
  static constexpr absl::Duration kReconnectDelay = absl::Milliseconds(100);
  // Open loop: due messages waiting for a free session.
  static constexpr size_t kMaxBacklog = 1'000'000;
  static constexpr uint64_t kMaxPendingEtrn = 1000;
  static constexpr absl::Duration kHousekeepingPeriod = absl::Milliseconds(250);

  ClientWorker(const ClientOptions& options, int index, WorkerShare share,
               reactor::Reactor& reactor);
  ~ClientWorker();

  // On the reactor thread: connects the sessions, starts the schedule and
  // the --duration clock from now.
  void Start();
  int64_t start_ns() const { return start_ns_; }
  // On the reactor thread: no new messages; sessions finish and QUIT.
  void RequestStop();
  // Thread-safe copy of the stats as of the last housekeeping tick.
  ClientStats Snapshot();
  // Valid once the reactor thread has finished.
  const ClientStats& stats() const { return stats_; }

  // From SessionHandler.
  void OnSessionOpen(int slot);
  void OnConnectFailed(int slot);
  void OnSessionClosed(int slot, bool was_ready_once);
  void Apply(int slot, ClientActions& actions);

 private:
  struct Slot {
    bool etrn = false;
    SessionHandler* handler = nullptr;  // owned by its Connection
    bool live = false;                  // connecting, open, or reconnect pending
    int consecutive_failures = 0;
    int64_t start_ns = 0;  // of the transaction in flight
    uint64_t content_bytes = 0;
    int64_t last_activity_ns = 0;
    uint64_t messages_on_connection = 0;
    bool recycling = false;  // QUIT for --messages_per_connection: reconnect at once
  };

  void Connect(int slot);
  void Dispatch(int slot);
  void DispatchEtrn(int slot);
  void StartMessage(int slot, int64_t start_ns);
  void Quit(int slot);
  bool MessagesRemain() const;
  bool SlotHasWork(int slot) const;
  void SlotDone(int slot);
  void OnScheduleTick();
  void ScheduleNextTick();
  void Housekeeping();
  void DropBacklog();
  void MaybeFinish();

  const ClientOptions& options_;
  const int index_;
  const WorkerShare share_;
  reactor::Reactor& reactor_;
  std::vector<Slot> slots_;
  MessageGenerator generator_;
  std::mt19937_64 rng_;
  std::unique_ptr<RateScheduler> scheduler_;  // open loop only
  std::deque<int64_t> backlog_due_ns_;        // open loop: due, not started
  std::vector<int> idle_slots_;               // open loop: waiting for work
  int64_t start_ns_ = 0;
  uint64_t messages_started_ = 0;
  uint64_t etrn_pending_ = 0;
  bool stopping_ = false;
  bool finished_ = false;
  int live_message_slots_ = 0;
  reactor::Reactor::TimerId tick_timer_ = 0;
  reactor::Reactor::TimerId housekeeping_timer_ = 0;
  reactor::Reactor::TimerId deadline_timer_ = 0;
  ClientStats stats_;

  std::mutex snapshot_mutex_;
  ClientStats snapshot_;
};

int64_t MonotonicNowNs();

}  // namespace etrnd::blaster
