#include "etrnd/blaster/client_runner.h"

#include <unistd.h>

#include <algorithm>
#include <future>
#include <memory>
#include <thread>

#include "etrnd/blaster/report.h"
#include "etrnd/common/log.h"
#include "etrnd/reactor/reactor.h"

namespace etrnd::blaster {
namespace {

constexpr absl::Duration kPollPeriod = absl::Milliseconds(50);
constexpr absl::Duration kProgressPeriod = absl::Seconds(1);

double SecondsSince(int64_t start_ns) {
  return static_cast<double>(MonotonicNowNs() - start_ns) / 1e9;
}

void WriteStderr(const std::string& text) {
  [[maybe_unused]] ssize_t n = write(STDERR_FILENO, text.data(), text.size());
}

}  // namespace

absl::StatusOr<ClientRunResult> RunClient(const ClientOptions& options,
                                          const std::atomic<bool>* stop_requested) {
  const std::vector<WorkerShare> shares = SplitWork(options);
  const size_t thread_count = shares.size();
  // Each reactor is created on the thread that runs it: the ring is
  // single-issuer, so only its creating thread may submit to it.
  std::vector<std::unique_ptr<reactor::Reactor>> reactors(thread_count);
  std::vector<std::unique_ptr<ClientWorker>> workers(thread_count);
  std::vector<std::promise<absl::Status>> created(thread_count);

  const int64_t start_ns = MonotonicNowNs();
  std::atomic<int> running{static_cast<int>(thread_count)};
  std::atomic<int64_t> end_ns{start_ns};  // when the last thread finished
  std::vector<std::thread> threads;
  for (size_t i = 0; i < thread_count; ++i) {
    threads.emplace_back([&, i] {
      SetLogThreadIndex(static_cast<int>(i));
      absl::StatusOr<std::unique_ptr<reactor::Reactor>> reactor =
          reactor::Reactor::Create(static_cast<int>(i), reactor::ReactorOptions());
      if (reactor.ok()) {
        reactors[i] = *std::move(reactor);
        workers[i] =
            std::make_unique<ClientWorker>(options, static_cast<int>(i), shares[i], *reactors[i]);
        workers[i]->Start();
      }
      created[i].set_value(reactor.status());
      if (reactors[i] != nullptr) reactors[i]->Run();
      const int64_t finished_ns = MonotonicNowNs();
      int64_t seen = end_ns.load();
      while (seen < finished_ns && !end_ns.compare_exchange_weak(seen, finished_ns)) {
      }
      running.fetch_sub(1);
    });
  }
  absl::Status creation = absl::OkStatus();
  for (auto& promise : created) creation.Update(promise.get_future().get());
  if (!creation.ok()) {
    for (size_t i = 0; i < thread_count; ++i) {
      if (reactors[i] != nullptr) reactors[i]->Post([&, i] { workers[i]->RequestStop(); });
    }
    for (std::thread& thread : threads) thread.join();
    return creation;
  }

  bool stop_sent = false;
  int64_t last_progress_ns = start_ns;
  uint64_t last_ok = 0;
  while (running.load() > 0) {
    absl::SleepFor(kPollPeriod);
    if (!stop_sent && stop_requested != nullptr && stop_requested->load()) {
      stop_sent = true;
      for (size_t i = 0; i < workers.size(); ++i) {
        reactors[i]->Post([&, i] { workers[i]->RequestStop(); });
      }
    }
    const int64_t now_ns = MonotonicNowNs();
    if (options.progress &&
        now_ns - last_progress_ns >= absl::ToInt64Nanoseconds(kProgressPeriod)) {
      ClientStats total;
      for (auto& worker : workers) total.Merge(worker->Snapshot());
      WriteStderr(ClientProgressLine(total, total.messages_ok - last_ok,
                                     static_cast<double>(now_ns - last_progress_ns) / 1e9,
                                     SecondsSince(start_ns)));
      last_ok = total.messages_ok;
      last_progress_ns = now_ns;
    }
  }
  for (std::thread& thread : threads) thread.join();

  ClientRunResult result;
  // From the first session's start, not counting ring set-up.
  int64_t first_start_ns = end_ns.load();
  for (auto& worker : workers) first_start_ns = std::min(first_start_ns, worker->start_ns());
  result.seconds = static_cast<double>(end_ns.load() - first_start_ns) / 1e9;
  for (auto& worker : workers) result.stats.Merge(worker->stats());
  return result;
}

}  // namespace etrnd::blaster
