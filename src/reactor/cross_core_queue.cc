#include "etrnd/reactor/cross_core_queue.h"

#include <new>
#include <utility>

#include "etrnd/common/check.h"

namespace etrnd::reactor {

// Raw storage (no Task constructed): untouched slots stay untouched pages.
CrossCoreQueue::CrossCoreQueue() : slots_(new Slot[kCrossCoreQueueSlots]) {}

CrossCoreQueue::~CrossCoreQueue() {
  Task task;
  while (TryPop(&task)) {
  }
}

bool CrossCoreQueue::TryPush(Task& task) {
  const uint64_t tail = tail_.load(std::memory_order_relaxed);
  if (tail - cached_head_ >= kCrossCoreQueueSlots) {
    cached_head_ = head_.load(std::memory_order_acquire);
    ETRND_CHECK(tail - cached_head_ <= kCrossCoreQueueSlots);
    if (tail - cached_head_ == kCrossCoreQueueSlots) return false;
  }
  new (slots_[tail & kMask].bytes) Task(std::move(task));
  tail_.store(tail + 1, std::memory_order_release);
  return true;
}

bool CrossCoreQueue::TryPop(Task* out) {
  const uint64_t head = head_.load(std::memory_order_relaxed);
  if (head == cached_tail_) {
    cached_tail_ = tail_.load(std::memory_order_acquire);
    if (head == cached_tail_) return false;
  }
  ETRND_CHECK(cached_tail_ - head <= kCrossCoreQueueSlots);
  Task* slot = SlotAt(head);
  *out = std::move(*slot);
  slot->~Task();
  head_.store(head + 1, std::memory_order_release);
  return true;
}

bool CrossCoreQueue::Empty() const {
  return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire);
}

}  // namespace etrnd::reactor
