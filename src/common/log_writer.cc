#include "etrnd/common/log_writer.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "etrnd/common/log.h"

namespace etrnd {
namespace {

// One reactor thread's queue: it appends at head, the writer takes from tail
// (positions only grow; the byte is at position % size).
struct LineQueue {
  std::unique_ptr<char[]> bytes{new char[kLogQueueBytesPerThread]};
  std::atomic<uint64_t> head{0};
  std::atomic<uint64_t> tail{0};
  std::atomic<uint64_t> dropped{0};  // lines that did not fit
};

struct Writer {
  std::mutex queues_mutex;  // taken when a thread first logs, and by the writer's pass
  std::vector<std::shared_ptr<LineQueue>> queues;
  std::atomic<bool> running{false};
  std::atomic<uint32_t> wakes{0};  // bumped per wake: the futex word
  // The writer found every queue empty and sleeps until woken; while it is
  // not idle it comes back by itself every kLogWriterInterval.
  std::atomic<bool> idle{false};
  std::thread thread;
};

Writer& TheWriter() {
  static Writer* writer = new Writer;  // never destroyed: used until exit
  return *writer;
}

thread_local std::shared_ptr<LineQueue> t_queue;
thread_local size_t t_unannounced = 0;  // bytes queued since the last wake

// The futex word is the atomic's own (std::atomic::wait has no timeout).
void FutexWait(std::atomic<uint32_t>& word, uint32_t seen, absl::Duration timeout) {
  timespec spec = absl::ToTimespec(timeout);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, seen,
          timeout == absl::InfiniteDuration() ? nullptr : &spec, nullptr, 0);
}

void Wake(Writer& writer) {
  writer.wakes.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&writer.wakes), FUTEX_WAKE_PRIVATE, INT_MAX,
          nullptr, nullptr, 0);
}

void WriteAll(const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(STDERR_FILENO, data, size);
    if (n <= 0) return;  // stderr gone: nothing better to do with a log line
    data += n;
    size -= static_cast<size_t>(n);
  }
}

// Writes what each queue holds; true if anything was written.
bool WritePass(Writer& writer) {
  std::vector<std::shared_ptr<LineQueue>> queues;
  {
    std::lock_guard<std::mutex> lock(writer.queues_mutex);
    queues = writer.queues;
  }
  bool wrote = false;
  for (const auto& queue : queues) {
    const uint64_t tail = queue->tail.load(std::memory_order_relaxed);
    const uint64_t head = queue->head.load(std::memory_order_acquire);
    if (head != tail) {
      const size_t start = tail % kLogQueueBytesPerThread;
      const size_t size = head - tail;
      const size_t first = std::min(size, kLogQueueBytesPerThread - start);
      WriteAll(queue->bytes.get() + start, first);
      WriteAll(queue->bytes.get(), size - first);
      queue->tail.store(head, std::memory_order_release);
      wrote = true;
    }
    if (const uint64_t dropped = queue->dropped.exchange(0); dropped > 0) {
      const std::string line =
          absl::StrCat("etrnd: ", dropped, " log lines dropped (the log writer fell behind)\n");
      WriteAll(line.data(), line.size());
    }
  }
  return wrote;
}

void WriterLoop(Writer& writer) {
  while (true) {
    const uint32_t wakes = writer.wakes.load(std::memory_order_acquire);
    const bool running = writer.running.load(std::memory_order_acquire);
    if (WritePass(writer)) {
      // More is likely to follow: collect it for a while rather than be
      // woken for every turn that logged (each wake is a context switch on
      // the CPUs the reactors need).
      if (running) FutexWait(writer.wakes, wakes, kLogWriterInterval);
      continue;
    }
    if (!running) return;  // nothing left after the stop was seen
    writer.idle.store(true);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // A line queued before a reactor could see idle is found here; one
    // queued after it makes the reactor wake us (wakes then differs).
    if (WritePass(writer)) {
      writer.idle.store(false);
      continue;
    }
    FutexWait(writer.wakes, wakes, absl::InfiniteDuration());
    writer.idle.store(false);
  }
}

}  // namespace

void StartLogWriter() {
  Writer& writer = TheWriter();
  if (writer.running.exchange(true)) return;
  writer.thread = std::thread([&writer] {
    // Signals are the main thread's (sigwait): never delivered here.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    pthread_setname_np(pthread_self(), "etrnd-log");
    WriterLoop(writer);
  });
  static bool registered = (std::atexit(StopLogWriter), true);
  (void)registered;
}

void StopLogWriter() {
  Writer& writer = TheWriter();
  if (!writer.running.exchange(false)) return;
  Wake(writer);
  if (writer.thread.joinable()) writer.thread.join();
}

bool QueueLogLine(std::string_view line) {
  Writer& writer = TheWriter();
  if (LogThreadIndex() < 0 || !writer.running.load(std::memory_order_acquire)) return false;
  if (t_queue == nullptr) {
    t_queue = std::make_shared<LineQueue>();
    std::lock_guard<std::mutex> lock(writer.queues_mutex);
    writer.queues.push_back(t_queue);
  }
  LineQueue& queue = *t_queue;
  const uint64_t head = queue.head.load(std::memory_order_relaxed);
  const uint64_t tail = queue.tail.load(std::memory_order_acquire);
  if (line.size() > kLogQueueBytesPerThread - (head - tail)) {
    queue.dropped.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  const size_t start = head % kLogQueueBytesPerThread;
  const size_t first = std::min(line.size(), kLogQueueBytesPerThread - start);
  std::memcpy(queue.bytes.get() + start, line.data(), first);
  std::memcpy(queue.bytes.get(), line.data() + first, line.size() - first);
  queue.head.store(head + line.size(), std::memory_order_release);
  t_unannounced += line.size();
  return true;
}

uint32_t LogWriterWakes() { return TheWriter().wakes.load(std::memory_order_relaxed); }

void WakeLogWriter() {
  if (t_unannounced == 0) return;
  Writer& writer = TheWriter();
  std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with the writer's idle fence
  if (!writer.idle.load() && t_unannounced < kLogWakeBytes) return;  // it comes back soon
  t_unannounced = 0;
  writer.idle.store(false);
  Wake(writer);
}

}  // namespace etrnd
