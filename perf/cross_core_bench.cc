// Contention of the paths every accept and every cross-core message take,
// old (a mutex shared by every thread) against new (lock-free), under 1..64
// threads. On a 2-core machine this measures contention, not speed: what
// matters is how the cost per operation grows with the thread count.
//
// * Posted work: N sender threads hand tasks to one receiver thread that
//   drains all the time. Old: Reactor::Post's mutex-guarded vector plus an
//   eventfd write when the receiver was not yet woken (a local copy of the
//   code before the change). New: one CrossCoreQueue per sender, a wake
//   flag per pair, an eventfd write standing in for the MSG_RING SQE (in
//   etrnd that SQE is batched into the sender's submit at its loop end).
// * Connection limiter: TryAdmit + Release per iteration, one address per
//   thread. Old: a local copy of the mutex + hash-map limiter. New: the
//   product's ConnectionLimiter.
// * ETRN limiter: Allow per iteration, one address per thread. Old: one
//   limiter behind a mutex (as before the change). New: each thread owns the
//   buckets of its clients (etrnd: the owner core; a session on another core
//   pays one cross-core message each way, the posted-work path above).
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "etrnd/common/net_address.h"
#include "etrnd/etrn/etrn_rate_limiter.h"
#include "etrnd/reactor/cross_core_queue.h"
#include "etrnd/server/connection_limiter.h"

namespace etrnd {
namespace {

constexpr int kMaxThreads = 64;

void ThreadCounts(benchmark::internal::Benchmark* b) {
  for (int n : {1, 2, 4, 8, 16, 32, 64}) b->Threads(n);
  b->UseRealTime();
}

IpAddress AddressOfThread(int thread) {
  return *IpAddress::Parse(absl::StrCat("10.0.", thread, ".1"));
}

// ---- Posted work ----

// Before: Reactor::Post (mutex + vector, eventfd write on the first post).
struct MutexPostPath {
  std::mutex mutex;
  std::vector<std::function<void()>> posted;
  bool wake_pending = false;
  int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ran{0};
  std::thread receiver;

  MutexPostPath() {
    receiver = std::thread([this] {
      std::vector<std::function<void()>> batch;
      while (!stop.load(std::memory_order_relaxed)) {
        {
          std::lock_guard<std::mutex> lock(mutex);
          batch.swap(posted);
          wake_pending = false;
        }
        for (auto& task : batch) task();
        if (batch.empty()) std::this_thread::yield();
        batch.clear();
      }
    });
  }
  ~MutexPostPath() {
    stop = true;
    receiver.join();
    close(wake_fd);
  }
  void Post(std::function<void()> fn) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mutex);
      posted.push_back(std::move(fn));
      wake = !wake_pending;
      wake_pending = true;
    }
    if (wake) {
      uint64_t one = 1;
      [[maybe_unused]] ssize_t n = write(wake_fd, &one, sizeof(one));
    }
  }
};

// After: one single-producer/single-consumer queue per sender.
struct PairQueuePath {
  struct Pair {
    reactor::CrossCoreQueue queue;
    alignas(64) std::atomic<bool> notified{false};
  };
  std::vector<std::unique_ptr<Pair>> pairs;
  int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ran{0};
  std::thread receiver;

  explicit PairQueuePath(int senders) {
    for (int i = 0; i < senders; ++i) pairs.push_back(std::make_unique<Pair>());
    receiver = std::thread([this] {
      std::function<void()> task;
      while (!stop.load(std::memory_order_relaxed)) {
        bool any = false;
        for (auto& pair : pairs) {
          pair->notified.exchange(false, std::memory_order_acq_rel);
          while (pair->queue.TryPop(&task)) {
            task();
            any = true;
          }
        }
        if (!any) std::this_thread::yield();
      }
    });
  }
  ~PairQueuePath() {
    stop = true;
    receiver.join();
    close(wake_fd);
  }
  // Sender `index` only. Full queue: the task waits in the sender's overflow.
  void PostTo(int index, std::function<void()> fn, std::deque<std::function<void()>>* overflow) {
    Pair& pair = *pairs[index];
    while (!overflow->empty() && pair.queue.TryPush(overflow->front())) overflow->pop_front();
    if (!overflow->empty() || !pair.queue.TryPush(fn)) overflow->push_back(std::move(fn));
    if (!pair.notified.exchange(true, std::memory_order_acq_rel)) {
      uint64_t one = 1;
      [[maybe_unused]] ssize_t n = write(wake_fd, &one, sizeof(one));
    }
  }
};

MutexPostPath* g_mutex_post = nullptr;
PairQueuePath* g_pair_post = nullptr;

void BM_PostedWork_MutexPost(benchmark::State& state) {
  if (state.thread_index() == 0) g_mutex_post = new MutexPostPath();
  for (auto _ : state) {
    g_mutex_post->Post([p = g_mutex_post] { p->ran.fetch_add(1, std::memory_order_relaxed); });
  }
  if (state.thread_index() == 0) {
    delete g_mutex_post;
    g_mutex_post = nullptr;
  }
}
BENCHMARK(BM_PostedWork_MutexPost)->Apply(ThreadCounts);

void BM_PostedWork_PairQueue(benchmark::State& state) {
  if (state.thread_index() == 0) g_pair_post = new PairQueuePath(kMaxThreads);
  std::deque<std::function<void()>> overflow;  // this sender's
  const int index = state.thread_index();
  for (auto _ : state) {
    g_pair_post->PostTo(
        index, [p = g_pair_post] { p->ran.fetch_add(1, std::memory_order_relaxed); }, &overflow);
  }
  state.counters["overflowed_at_end"] =
      benchmark::Counter(static_cast<double>(overflow.size()), benchmark::Counter::kAvgThreads);
  overflow.clear();
  if (state.thread_index() == 0) {
    delete g_pair_post;
    g_pair_post = nullptr;
  }
}
BENCHMARK(BM_PostedWork_PairQueue)->Apply(ThreadCounts);

// ---- Connection limiter ----

// Before: one mutex around a hash map of per-address counts.
class MutexConnectionLimiter {
 public:
  MutexConnectionLimiter(size_t max_total, size_t max_per_address)
      : max_total_(max_total), max_per_address_(max_per_address) {}
  server::Admission TryAdmit(const IpAddress& address) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (total_.load(std::memory_order_relaxed) >= max_total_) {
      return server::Admission::kTooManyTotal;
    }
    size_t& count = per_address_[address];
    if (count >= max_per_address_) return server::Admission::kTooManyFromAddress;
    ++count;
    total_.fetch_add(1, std::memory_order_relaxed);
    return server::Admission::kAdmitted;
  }
  void Release(const IpAddress& address) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = per_address_.find(address);
    if (it == per_address_.end()) return;
    if (--it->second == 0) per_address_.erase(it);
    total_.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  const size_t max_total_;
  const size_t max_per_address_;
  std::atomic<size_t> total_{0};
  std::mutex mutex_;
  absl::flat_hash_map<IpAddress, size_t> per_address_;
};

MutexConnectionLimiter g_mutex_limiter(20000, 100);
server::ConnectionLimiter g_atomic_limiter(20000, 100);

template <typename Limiter>
void RunLimiter(benchmark::State& state, Limiter& limiter) {
  const IpAddress address = AddressOfThread(state.thread_index());
  for (auto _ : state) {
    server::Admission admission = limiter.TryAdmit(address);
    benchmark::DoNotOptimize(admission);
    if (admission == server::Admission::kAdmitted) limiter.Release(address);
  }
}

void BM_ConnectionLimiter_Mutex(benchmark::State& state) { RunLimiter(state, g_mutex_limiter); }
BENCHMARK(BM_ConnectionLimiter_Mutex)->Apply(ThreadCounts);

void BM_ConnectionLimiter_Atomic(benchmark::State& state) { RunLimiter(state, g_atomic_limiter); }
BENCHMARK(BM_ConnectionLimiter_Atomic)->Apply(ThreadCounts);

// ---- ETRN rate limiter ----

constexpr etrn::EtrnRateLimits kBenchEtrnLimits{.burst = 1e9, .refill_per_second = 1e9};
std::mutex g_etrn_mutex;
etrn::EtrnRateLimiter g_shared_etrn(kBenchEtrnLimits);

void BM_EtrnLimiter_Mutex(benchmark::State& state) {
  const IpAddress address = AddressOfThread(state.thread_index());
  for (auto _ : state) {
    std::lock_guard<std::mutex> lock(g_etrn_mutex);
    benchmark::DoNotOptimize(g_shared_etrn.Allow(address, absl::Now()));
  }
}
BENCHMARK(BM_EtrnLimiter_Mutex)->Apply(ThreadCounts);

void BM_EtrnLimiter_OwnerShard(benchmark::State& state) {
  const IpAddress address = AddressOfThread(state.thread_index());
  etrn::EtrnRateLimiter own(kBenchEtrnLimits);  // this "core's" shard
  for (auto _ : state) benchmark::DoNotOptimize(own.Allow(address, absl::Now()));
}
BENCHMARK(BM_EtrnLimiter_OwnerShard)->Apply(ThreadCounts);

}  // namespace
}  // namespace etrnd

BENCHMARK_MAIN();
