// Work handed to a reactor: Post() from any thread, PostTo() between
// reactors over the per-pair queues and MSG_RING, and running it under the
// turn budget.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/reactor/reactor_mesh.h"
#include "reactor_impl.h"

namespace etrnd::reactor {

bool Reactor::OnOwnThread() const { return std::this_thread::get_id() == impl_->owner_thread; }

void Reactor::Post(std::function<void()> fn) {
  if (OnOwnThread()) {
    impl_->posted_local.push_back(std::move(fn));
    return;
  }
  // The wake is written under the lock: the reactor cannot run the task (a
  // Stop(), say), return from Run() and close the eventfd before the write
  // is done. Only threads outside the reactors come here; not a request path.
  std::lock_guard<std::mutex> lock(impl_->posted_mutex);
  impl_->posted.push_back(std::move(fn));
  if (!impl_->wake_pending) {
    impl_->wake_pending = true;
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(impl_->wake_fd, &one, sizeof(one));
  }
}

void Reactor::JoinMesh(ReactorMesh& mesh) {
  ETRND_CHECK(OnOwnThread());
  ETRND_CHECK(impl_->mesh == nullptr);
  ETRND_CHECK(index_ >= 0 && static_cast<size_t>(index_) < mesh.size());
  ETRND_CHECK(mesh.member(index_) == nullptr);
  impl_->mesh = &mesh;
  impl_->msg_ring_ops.clear();
  for (size_t i = 0; i < mesh.size(); ++i) {
    impl_->msg_ring_ops.push_back(
        std::make_unique<Operation>(Operation{OpKind::kMsgRingSent, nullptr, {}, {}, 0, {}}));
  }
  mesh.members_[index_].store(this, std::memory_order_release);
}

void Reactor::PostTo(Reactor& target, std::function<void()> fn) {
  // Single producer per pair: only this reactor's thread pushes into its row.
  ETRND_CHECK(OnOwnThread());
  if (&target == this) {
    impl_->posted_local.push_back(std::move(fn));
    return;
  }
  ReactorMesh* mesh = impl_->mesh;
  ETRND_CHECK(mesh != nullptr && target.impl_->mesh == mesh);
  ETRND_CHECK(mesh->member(target.index_) == &target);
  CrossCorePair& pair = mesh->pair(index_, target.index_);
  // Behind an overflow list, a new task waits its turn: order is kept.
  if (pair.overflow.empty() && pair.queue.TryPush(fn)) {
    pair.pushed_since_wake = true;
  } else {
    pair.overflow.push_back(std::move(fn));
    impl_->overflow_tasks++;
  }
  if (!pair.listed) {
    pair.listed = true;
    impl_->cross_core_dirty.push_back(target.index_);
  }
}

// Loop end, sender side: move what overflowed into the queues as far as they
// have room, then wake each receiver that got tasks, at most one MSG_RING per
// receiver per turn.
void Reactor::FlushCrossCore() {
  if (impl_->cross_core_dirty.empty()) return;
  std::vector<size_t> dirty;
  dirty.swap(impl_->cross_core_dirty);
  ReactorMesh& mesh = *impl_->mesh;
  for (size_t receiver : dirty) {
    CrossCorePair& pair = mesh.pair(index_, receiver);
    ETRND_CHECK(pair.listed);
    while (!pair.overflow.empty() && pair.queue.TryPush(pair.overflow.front())) {
      pair.overflow.pop_front();
      impl_->overflow_tasks--;
      pair.pushed_since_wake = true;
    }
    if (pair.pushed_since_wake) {
      pair.pushed_since_wake = false;
      // acq_rel: the receiver's exchange(false) that reads this true also
      // sees every task pushed before it.
      if (!pair.receiver_notified.exchange(true, std::memory_order_acq_rel)) {
        SendCrossCoreWake(*mesh.member(receiver));
      }
    }
    if (pair.overflow.empty()) {
      pair.listed = false;
    } else {
      impl_->cross_core_dirty.push_back(receiver);
    }
  }
}

void Reactor::SendCrossCoreWake(Reactor& target) {
  io_uring_sqe* sqe = impl_->GetSqe();
  // The CQE lands on target's ring with target's wake op as its user_data;
  // this ring gets its own CQE (kMsgRingSent) saying whether it was sent.
  io_uring_prep_msg_ring(sqe, target.impl_->ring.ring_fd, 0,
                         reinterpret_cast<uint64_t>(&target.impl_->cross_core_wake_op), 0);
  Operation& sent = *impl_->msg_ring_ops[target.index_];
  sent.owner = &target;
  io_uring_sqe_set_data(sqe, &sent);
}

// Receiver side: runs tasks from every inbound pair queue, senders in
// rotation, until the queues are empty or stop_at passes. Returns whether
// tasks are left.
bool Reactor::RunCrossCore(absl::Time stop_at) {
  ReactorMesh& mesh = *impl_->mesh;
  const size_t senders = mesh.size();
  std::function<void()> task;
  for (size_t k = 0; k < senders; ++k) {
    const size_t sender = (impl_->cross_core_next_sender + k) % senders;
    if (sender == static_cast<size_t>(index_)) continue;
    CrossCorePair& pair = mesh.pair(sender, index_);
    // Cleared before draining: a task pushed after the drain finds the flag
    // false and sends a new wake.
    pair.receiver_notified.exchange(false, std::memory_order_acq_rel);
    absl::Time started = absl::Now();
    while (pair.queue.TryPop(&task)) {
      task();
      task = nullptr;
      const absl::Time ended = absl::Now();
      impl_->turn.posted.Add(ended - started);
      started = ended;
      if (ended >= stop_at) {
        impl_->cross_core_next_sender = sender;
        return true;
      }
    }
  }
  impl_->cross_core_next_sender = (impl_->cross_core_next_sender + 1) % senders;
  return false;
}

// Posted work also runs within the turn's budget: what is left stays
// queued, in order, ahead of anything posted later.
void Reactor::RunPosted(absl::Time stop_at) {
  {
    std::lock_guard<std::mutex> lock(impl_->posted_mutex);
    for (auto& task : impl_->posted) impl_->posted_ready.push_back(std::move(task));
    impl_->posted.clear();
    impl_->wake_pending = false;
  }
  for (auto& task : impl_->posted_local) impl_->posted_ready.push_back(std::move(task));
  impl_->posted_local.clear();
  absl::Time started = absl::Now();
  while (!impl_->posted_ready.empty()) {
    std::function<void()> task = std::move(impl_->posted_ready.front());
    impl_->posted_ready.pop_front();
    task();
    const absl::Time ended = absl::Now();
    impl_->turn.posted.Add(ended - started);
    started = ended;
    if (ended >= stop_at) return;  // cross-core flags stay set for next turn
  }
  if (impl_->mesh != nullptr && (impl_->cross_core_seen || impl_->cross_core_left)) {
    impl_->cross_core_seen = false;
    impl_->cross_core_left = RunCrossCore(stop_at);
  }
}

}  // namespace etrnd::reactor
