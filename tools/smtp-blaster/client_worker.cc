#include "etrnd/blaster/client_worker.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "etrnd/blaster/session_handler.h"
#include "etrnd/common/log.h"
#include "etrnd/reactor/connection.h"

namespace etrnd::blaster {

int64_t MonotonicNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

ClientWorker::ClientWorker(const ClientOptions& options, int index, WorkerShare share,
                           reactor::Reactor& reactor)
    : options_(options),
      index_(index),
      share_(share),
      reactor_(reactor),
      generator_(options.run_id, index, options.seed * 1000003 + static_cast<uint64_t>(index)),
      rng_(options.seed + static_cast<uint64_t>(index)) {
  slots_.resize(static_cast<size_t>(share.connections));
  if (options.etrn_every > 0) slots_.push_back(Slot{.etrn = true});
}

ClientWorker::~ClientWorker() = default;

void ClientWorker::Start() {
  start_ns_ = MonotonicNowNs();
  live_message_slots_ = share_.connections;
  for (size_t i = 0; i < slots_.size(); ++i) {
    slots_[i].live = true;
    Connect(static_cast<int>(i));
  }
  if (share_.rate > 0) {
    scheduler_ =
        std::make_unique<RateScheduler>(share_.rate, start_ns_ + share_.schedule_offset_ns,
                                        share_.messages == 0 ? UINT64_MAX : share_.messages);
    ScheduleNextTick();
  }
  housekeeping_timer_ = reactor_.RunAfter(kHousekeepingPeriod, [this] { Housekeeping(); });
  if (options_.duration > absl::ZeroDuration()) {
    deadline_timer_ = reactor_.RunAfter(options_.duration, [this] {
      deadline_timer_ = 0;
      RequestStop();
    });
  }
}

void ClientWorker::Connect(int slot_index) {
  Slot& slot = slots_[slot_index];
  ClientSessionConfig config;
  config.helo_name = options_.helo_name;
  config.use_pipelining = options_.pipelining;
  config.starttls = options_.starttls;
  config.auth_user = options_.auth_user;
  config.auth_password = options_.auth_password;
  auto handler =
      std::make_unique<SessionHandler>(*this, slot_index, std::move(config), options_.tls_context);
  slot.handler = handler.get();
  slot.last_activity_ns = MonotonicNowNs();
  slot.messages_on_connection = 0;
  slot.recycling = false;
  reactor_.Connect(options_.target, std::move(handler));
}

void ClientWorker::OnSessionOpen(int slot_index) {
  slots_[slot_index].last_activity_ns = MonotonicNowNs();
}

void ClientWorker::Apply(int slot_index, ClientActions& actions) {
  Slot& slot = slots_[slot_index];
  const int64_t now_ns = MonotonicNowNs();
  slot.last_activity_ns = now_ns;
  if (slot.handler != nullptr) slot.handler->Perform(actions);
  for (const TransactionResult& result : actions.results) {
    const uint64_t latency_us =
        now_ns > slot.start_ns ? static_cast<uint64_t>(now_ns - slot.start_ns) / 1000 : 0;
    stats_.Count(result, slot.content_bytes, latency_us);
  }
  if (!actions.session_error.empty()) stats_.CountError(actions.session_error);
  if (actions.ready) {
    slot.consecutive_failures = 0;
    Dispatch(slot_index);
  }
}

void ClientWorker::Dispatch(int slot_index) {
  Slot& slot = slots_[slot_index];
  if (slot.handler == nullptr || !slot.handler->session().idle()) return;
  if (slot.etrn) return DispatchEtrn(slot_index);
  if (stopping_) return Quit(slot_index);
  if (options_.messages_per_connection > 0 &&
      slot.messages_on_connection >= options_.messages_per_connection) {
    slot.recycling = true;
    return Quit(slot_index);
  }
  if (scheduler_ == nullptr) {
    if (!MessagesRemain()) return Quit(slot_index);
    return StartMessage(slot_index, MonotonicNowNs());
  }
  if (!backlog_due_ns_.empty()) {
    const int64_t due_ns = backlog_due_ns_.front();
    backlog_due_ns_.pop_front();
    return StartMessage(slot_index, due_ns);
  }
  if (scheduler_->exhausted()) return Quit(slot_index);
  idle_slots_.push_back(slot_index);
}

void ClientWorker::DispatchEtrn(int slot_index) {
  Slot& slot = slots_[slot_index];
  if (slot.handler == nullptr || !slot.handler->session().idle()) return;
  if (etrn_pending_ > 0) {
    --etrn_pending_;
    slot.start_ns = MonotonicNowNs();
    slot.content_bytes = 0;
    ClientActions actions;
    slot.handler->session().StartEtrn(options_.domains->Pick(rng_), &actions);
    return Apply(slot_index, actions);
  }
  if (!MessagesRemain()) Quit(slot_index);
  // Else wait: StartMessage wakes this slot when an ETRN falls due.
}

void ClientWorker::StartMessage(int slot_index, int64_t start_ns) {
  Slot& slot = slots_[slot_index];
  ++messages_started_;
  ++slot.messages_on_connection;
  std::vector<std::string> recipients;
  recipients.reserve(static_cast<size_t>(options_.recipients));
  for (int i = 0; i < options_.recipients; ++i) {
    recipients.push_back(absl::StrCat("user", rng_() % 1000, "@", options_.domains->Pick(rng_)));
  }
  const std::string content =
      generator_.Generate(MessageEnvelope{options_.mail_from, recipients}, options_.message_bytes);
  slot.start_ns = start_ns;
  slot.content_bytes = content.size();
  ClientActions actions;
  slot.handler->session().StartMessage(options_.mail_from, recipients, content, &actions);
  Apply(slot_index, actions);

  if (options_.etrn_every > 0) {
    if (messages_started_ % options_.etrn_every == 0) {
      etrn_pending_ = std::min(etrn_pending_ + 1, kMaxPendingEtrn);
    }
    DispatchEtrn(static_cast<int>(slots_.size()) - 1);
  }
}

void ClientWorker::Quit(int slot_index) {
  Slot& slot = slots_[slot_index];
  if (slot.handler == nullptr) return;
  ClientActions actions;
  slot.handler->session().Quit(&actions);
  Apply(slot_index, actions);
}

bool ClientWorker::MessagesRemain() const {
  if (stopping_) return false;
  if (scheduler_ != nullptr) return !scheduler_->exhausted() || !backlog_due_ns_.empty();
  return share_.messages == 0 || messages_started_ < share_.messages;
}

bool ClientWorker::SlotHasWork(int slot_index) const {
  if (slots_[slot_index].etrn) return etrn_pending_ > 0 || MessagesRemain();
  return MessagesRemain();
}

void ClientWorker::OnConnectFailed(int slot_index) {
  stats_.CountError("connect");
  OnSessionClosed(slot_index, /*was_ready_once=*/false);
}

void ClientWorker::OnSessionClosed(int slot_index, bool was_ready_once) {
  Slot& slot = slots_[slot_index];
  slot.handler = nullptr;
  if (!was_ready_once) ++slot.consecutive_failures;
  std::erase(idle_slots_, slot_index);
  if (!SlotHasWork(slot_index) || slot.consecutive_failures >= kMaxConsecutiveFailures) {
    if (slot.consecutive_failures >= kMaxConsecutiveFailures) {
      ETRND_LOG_WARNING("session %d.%d: giving up after %d failures in a row", index_, slot_index,
                        slot.consecutive_failures);
    }
    return SlotDone(slot_index);
  }
  if (slot.recycling && was_ready_once) return Connect(slot_index);
  reactor_.RunAfter(kReconnectDelay * std::max(slot.consecutive_failures, 1), [this, slot_index] {
    if (SlotHasWork(slot_index)) {
      Connect(slot_index);
    } else {
      SlotDone(slot_index);
    }
  });
}

void ClientWorker::SlotDone(int slot_index) {
  Slot& slot = slots_[slot_index];
  if (!slot.live) return;
  slot.live = false;
  if (!slot.etrn && --live_message_slots_ == 0) {
    // Nobody left to send: whatever is still scheduled will not go out.
    stopping_ = true;
    DropBacklog();
    if (options_.etrn_every > 0) DispatchEtrn(static_cast<int>(slots_.size()) - 1);
  }
  MaybeFinish();
}

void ClientWorker::RequestStop() {
  if (stopping_) return;
  stopping_ = true;
  DropBacklog();
  std::vector<int> idle;
  idle.swap(idle_slots_);
  for (int slot_index : idle) Quit(slot_index);
  if (options_.etrn_every > 0) DispatchEtrn(static_cast<int>(slots_.size()) - 1);
}

void ClientWorker::DropBacklog() {
  stats_.messages_unsent += backlog_due_ns_.size();
  backlog_due_ns_.clear();
  if (tick_timer_ != 0) {
    reactor_.CancelTimer(tick_timer_);
    tick_timer_ = 0;
  }
}

void ClientWorker::ScheduleNextTick() {
  const int64_t next_ns = scheduler_->NextDueNs();
  if (next_ns < 0) return;
  const int64_t delay_ns = std::max<int64_t>(0, next_ns - MonotonicNowNs());
  tick_timer_ = reactor_.RunAfter(absl::Nanoseconds(delay_ns), [this] { OnScheduleTick(); });
}

void ClientWorker::OnScheduleTick() {
  tick_timer_ = 0;
  if (stopping_) return;
  const int64_t now_ns = MonotonicNowNs();
  int64_t due_ns = 0;
  while (scheduler_->Take(now_ns, &due_ns)) {
    if (backlog_due_ns_.size() >= kMaxBacklog) {
      ++stats_.messages_unsent;
    } else {
      backlog_due_ns_.push_back(due_ns);
    }
  }
  while (!idle_slots_.empty() && !backlog_due_ns_.empty()) {
    const int slot_index = idle_slots_.back();
    idle_slots_.pop_back();
    Dispatch(slot_index);
  }
  if (scheduler_->exhausted()) {
    // Sessions waiting for work will get none.
    std::vector<int> idle;
    idle.swap(idle_slots_);
    for (int slot_index : idle) Dispatch(slot_index);
    if (options_.etrn_every > 0) DispatchEtrn(static_cast<int>(slots_.size()) - 1);
    return;
  }
  ScheduleNextTick();
}

void ClientWorker::Housekeeping() {
  housekeeping_timer_ = 0;
  const int64_t now_ns = MonotonicNowNs();
  const int64_t timeout_ns = absl::ToInt64Nanoseconds(options_.reply_timeout);
  for (Slot& slot : slots_) {
    if (slot.handler == nullptr || slot.handler->connection() == nullptr) continue;
    if (slot.handler->session().awaiting_reply() && now_ns - slot.last_activity_ns > timeout_ns) {
      slot.handler->TimeOut();
    }
  }
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    snapshot_ = stats_;
  }
  if (!finished_) {
    housekeeping_timer_ = reactor_.RunAfter(kHousekeepingPeriod, [this] { Housekeeping(); });
  }
}

void ClientWorker::MaybeFinish() {
  if (finished_) return;
  for (const Slot& slot : slots_) {
    if (slot.live) return;
  }
  finished_ = true;
  for (reactor::Reactor::TimerId* timer : {&tick_timer_, &housekeeping_timer_, &deadline_timer_}) {
    if (*timer != 0) reactor_.CancelTimer(*timer);
    *timer = 0;
  }
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    snapshot_ = stats_;
  }
  reactor_.Stop();
}

ClientStats ClientWorker::Snapshot() {
  std::lock_guard<std::mutex> lock(snapshot_mutex_);
  return snapshot_;
}

}  // namespace etrnd::blaster
