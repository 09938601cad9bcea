#include "etrnd/common/log_writer.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
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
  std::atomic<uint32_t> wakes{0};  // bumped (and notified) per queued line
  std::thread thread;
};

Writer& TheWriter() {
  static Writer* writer = new Writer;  // never destroyed: used until exit
  return *writer;
}

thread_local std::shared_ptr<LineQueue> t_queue;
thread_local bool t_unannounced = false;  // lines queued since the last wake

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
    if (WritePass(writer)) continue;
    if (!running) return;  // nothing left after the stop was seen
    writer.wakes.wait(wakes, std::memory_order_acquire);
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
  writer.wakes.fetch_add(1, std::memory_order_release);
  writer.wakes.notify_one();
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
  t_unannounced = true;
  return true;
}

void WakeLogWriter() {
  if (!t_unannounced) return;
  t_unannounced = false;
  Writer& writer = TheWriter();
  writer.wakes.fetch_add(1, std::memory_order_release);
  writer.wakes.notify_one();
}

}  // namespace etrnd
