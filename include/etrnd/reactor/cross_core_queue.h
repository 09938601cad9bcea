// A bounded single-producer/single-consumer ring of tasks: the queue one
// reactor (the sender) uses to hand work to another (the receiver). No lock:
// the producer owns tail_, the consumer owns head_, each reads the other's
// index with acquire and keeps a cached copy to touch the shared line rarely.
// Which thread is the producer and which the consumer is the caller's
// contract (Reactor::PostTo checks it); the queue checks its index invariants.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace etrnd::reactor {

// Tasks one sender may have in flight to one receiver before the sender
// keeps the rest in its overflow list. Slots are raw storage: only the slots
// a pair has used are touched (64 cores -> 4096 pairs -> 4096 x 32 KiB of
// address space, resident only as far as each pair's ring has cycled);
// bursts beyond it wait in the sender's overflow list.
inline constexpr size_t kCrossCoreQueueSlots = 1024;

class CrossCoreQueue {
 public:
  using Task = std::function<void()>;

  CrossCoreQueue();
  ~CrossCoreQueue();
  CrossCoreQueue(const CrossCoreQueue&) = delete;
  CrossCoreQueue& operator=(const CrossCoreQueue&) = delete;

  // Producer only. Moves the task in and returns true, or leaves it alone
  // and returns false when all kCrossCoreQueueSlots are taken.
  bool TryPush(Task& task);
  // Consumer only. Moves the oldest task out, or returns false when empty.
  bool TryPop(Task* out);
  // Either side; exact only on the consumer's side (a producer may be
  // pushing meanwhile).
  bool Empty() const;

 private:
  static_assert((kCrossCoreQueueSlots & (kCrossCoreQueueSlots - 1)) == 0,
                "slot count must be a power of two");
  static constexpr uint64_t kMask = kCrossCoreQueueSlots - 1;
  struct alignas(Task) Slot {
    unsigned char bytes[sizeof(Task)];
  };
  Task* SlotAt(uint64_t position) {
    return std::launder(reinterpret_cast<Task*>(slots_[position & kMask].bytes));
  }

  // Separate cache lines: the producer's and the consumer's writes must not
  // bounce one line between two cores.
  alignas(64) std::atomic<uint64_t> head_{0};  // next slot to pop (consumer writes)
  uint64_t cached_tail_ = 0;                   // consumer's view of tail_
  alignas(64) std::atomic<uint64_t> tail_{0};  // next slot to push (producer writes)
  uint64_t cached_head_ = 0;                   // producer's view of head_
  alignas(64) std::unique_ptr<Slot[]> slots_;
};

}  // namespace etrnd::reactor
