// The reactors of one process that send each other work on request paths
// (Seastar's submit_to, helio's per-thread task queues). Each ordered pair
// (sender, receiver) has its own bounded single-producer/single-consumer
// queue, so no two threads ever write the same index and no lock is taken;
// the sender wakes a receiver that may be asleep with IORING_OP_MSG_RING on
// its own ring (see Reactor::PostTo).
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <memory>
#include <vector>

#include "etrnd/reactor/cross_core_queue.h"

namespace etrnd::reactor {

class Reactor;

// The state of one ordered pair of reactors.
struct CrossCorePair {
  CrossCoreQueue queue;
  // True from the sender's wake (MSG_RING) until the receiver starts to
  // drain: while it is true the receiver is sure to look at the queue, so
  // the sender need not wake it again.
  alignas(64) std::atomic<bool> receiver_notified{false};
  // Sender thread only. Tasks that found the queue full, in order; moved
  // into the queue at the sender's loop end as the receiver frees slots.
  // Never dropped: bounded only by what the sender itself holds.
  alignas(64) std::deque<CrossCoreQueue::Task> overflow;
  bool pushed_since_wake = false;  // a task went into the queue since the last wake
  bool listed = false;             // on the sender's list of pairs to flush
};

class ReactorMesh {
 public:
  // Room for reactors with index 0..reactor_count-1.
  explicit ReactorMesh(size_t reactor_count);
  ~ReactorMesh();
  ReactorMesh(const ReactorMesh&) = delete;
  ReactorMesh& operator=(const ReactorMesh&) = delete;

  size_t size() const { return size_; }

 private:
  friend class Reactor;
  CrossCorePair& pair(size_t sender, size_t receiver) { return *pairs_[sender * size_ + receiver]; }
  // Reactor at index i, once it has joined (Reactor::JoinMesh).
  Reactor* member(size_t index) const { return members_[index].load(std::memory_order_acquire); }

  const size_t size_;
  std::vector<std::unique_ptr<CrossCorePair>> pairs_;  // size_ x size_, the diagonal unused
  std::unique_ptr<std::atomic<Reactor*>[]> members_;
};

}  // namespace etrnd::reactor
