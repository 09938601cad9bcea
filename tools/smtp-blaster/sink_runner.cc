#include "etrnd/blaster/sink_runner.h"

#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "etrnd/blaster/fail_schedule.h"
#include "etrnd/blaster/sink_store.h"
#include "etrnd/common/log.h"
#include "etrnd/reactor/connection.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/transport/tls_pump.h"

namespace etrnd::blaster {
namespace {

constexpr absl::Duration kPollPeriod = absl::Milliseconds(50);
constexpr absl::Duration kProgressPeriod = absl::Seconds(1);

void WriteStderr(const std::string& text) {
  [[maybe_unused]] ssize_t n = write(STDERR_FILENO, text.data(), text.size());
}

// One reactor thread's sink state; touched only on that thread, except the
// atomic progress counter.
struct SinkWorker {
  SinkWorker(const SinkOptions& options, SinkStore* store)
      : options(options),
        store(store),
        rcpt_failures(options.fail_fraction),
        data_failures(options.fail_fraction) {}

  const SinkOptions& options;
  SinkStore* store;
  FailSchedule rcpt_failures;
  FailSchedule data_failures;
  SinkStats stats;
  std::atomic<uint64_t> messages_for_progress{0};
};

// One sink connection: plaintext, or TLS through a TlsPump after the
// session accepted STARTTLS.
class SinkHandler : public reactor::ConnectionHandler, private transport::TlsPumpListener {
 public:
  explicit SinkHandler(SinkWorker& worker)
      : worker_(worker),
        session_(worker.options.session, &worker.rcpt_failures, &worker.data_failures),
        stream_([this](std::string bytes) {
          if (connection_ != nullptr) connection_->Send(std::move(bytes));
        }) {}

  void OnOpen(reactor::Connection& connection) override {
    connection_ = &connection;
    ++worker_.stats.connections;
    connection.Send(session_.Greeting());
  }
  void OnReceive(reactor::Connection& /*connection*/, std::string_view bytes) override {
    stream_.Receive(bytes, *this);
  }
  void OnClosed(reactor::Connection& /*connection*/, int /*error*/) override {
    connection_ = nullptr;
  }

 private:
  void OnTlsStarted() override { session_.OnTlsStarted(); }
  void OnPlaintext(std::string_view bytes) override { Process(bytes); }
  void OnTlsFailed(std::string_view why) override {
    ETRND_LOG_INFO("sink: TLS handshake failed: %s", why);
    if (connection_ != nullptr) connection_->Close();
  }
  void OnTlsEnded(std::string_view error) override {
    if (!error.empty()) ETRND_LOG_INFO("sink: TLS failed: %s", error);
    if (connection_ != nullptr) connection_->Close();
  }

  void Process(std::string_view bytes) {
    if (connection_ == nullptr) return;
    std::string output;
    std::vector<ReceivedMessage> accepted;
    const bool open = session_.OnReceive(bytes, &output, &accepted);
    // Stored and counted before the 250 leaves, so whoever sees the 250
    // also sees the file and the count.
    for (const ReceivedMessage& message : accepted) {
      if (worker_.store != nullptr) {
        if (absl::Status status = worker_.store->Store(message); !status.ok()) {
          ETRND_LOG_ERROR("sink store: %s", std::string(status.message()));
        }
      }
      worker_.stats.Count(message);
    }
    if (!accepted.empty()) worker_.messages_for_progress.store(worker_.stats.messages);
    stream_.SendOwned(std::move(output));
    if (stream_.failed()) return connection_->Abort();
    if (!open) {
      stream_.Shutdown();
      return connection_->Close();
    }
    if (session_.wants_tls_start() && !stream_.tls()) StartTls();
  }
  void StartTls() {
    // The 220 went out in clear above; the handshake follows.
    if (absl::Status status = stream_.StartServer(*worker_.options.tls_context); !status.ok()) {
      ETRND_LOG_ERROR("sink: %s", std::string(status.message()));
      connection_->Close();
    }
  }

  SinkWorker& worker_;
  SinkSession session_;
  reactor::Connection* connection_ = nullptr;
  transport::TlsPump stream_;
};

}  // namespace

absl::StatusOr<SinkRunResult> RunSink(const SinkOptions& options,
                                      const std::atomic<bool>* stop_requested) {
  std::unique_ptr<SinkStore> store;
  if (!options.store_dir.empty()) {
    if (absl::Status status = SinkStore::Prepare(options.store_dir); !status.ok()) return status;
    store = std::make_unique<SinkStore>(options.store_dir);
  }
  const size_t thread_count = static_cast<size_t>(std::max(options.threads, 1));
  std::vector<std::unique_ptr<reactor::Reactor>> reactors(thread_count);
  std::vector<std::unique_ptr<SinkWorker>> workers(thread_count);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  // Threads start one by one: each creates its reactor on itself (the ring
  // is single-issuer) and listens; with port 0 the first one's port is
  // shared by the others.
  SocketAddress listen = options.listen;
  absl::Status status = absl::OkStatus();
  for (size_t i = 0; i < thread_count && status.ok(); ++i) {
    std::promise<absl::Status> ready;
    std::future<absl::Status> ready_future = ready.get_future();
    workers[i] = std::make_unique<SinkWorker>(options, store.get());
    threads.emplace_back([&, i, ready = std::move(ready)]() mutable {
      SetLogThreadIndex(static_cast<int>(i));
      absl::StatusOr<std::unique_ptr<reactor::Reactor>> reactor =
          reactor::Reactor::Create(static_cast<int>(i), reactor::ReactorOptions());
      if (!reactor.ok()) return ready.set_value(reactor.status());
      reactors[i] = *std::move(reactor);
      SinkWorker* worker = workers[i].get();
      absl::Status listening = reactors[i]->Listen(
          listen, [worker](reactor::Reactor&, const SocketAddress&, const SocketAddress&) {
            return std::make_unique<SinkHandler>(*worker);
          });
      if (listening.ok()) {
        if (const auto addresses = reactors[i]->ListeningAddresses(); !addresses.empty()) {
          listen = addresses.front();
        }
      }
      const bool run = listening.ok();
      ready.set_value(std::move(listening));
      if (run) reactors[i]->Run();
    });
    status = ready_future.get();
  }
  if (status.ok()) {
    WriteStderr(absl::StrCat("smtp-blaster sink listening on ", listen.ToString(), "\n"));
    if (options.on_listening) options.on_listening(listen);
  }

  const absl::Time deadline = options.duration > absl::ZeroDuration()
                                  ? absl::Now() + options.duration
                                  : absl::InfiniteFuture();
  absl::Time next_progress = absl::Now() + kProgressPeriod;
  uint64_t last_messages = 0;
  while (status.ok() && !(stop_requested != nullptr && stop_requested->load()) &&
         absl::Now() < deadline) {
    absl::SleepFor(kPollPeriod);
    if (options.progress && absl::Now() >= next_progress) {
      next_progress += kProgressPeriod;
      uint64_t messages = 0;
      for (auto& worker : workers) messages += worker->messages_for_progress.load();
      if (messages != last_messages) {
        WriteStderr(
            absl::StrFormat("sink: %d messages (+%d)\n", messages, messages - last_messages));
        last_messages = messages;
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& reactor : reactors) {
    reactor::Reactor* r = reactor.get();
    if (r == nullptr) continue;
    r->Post([r] {
      r->StopAccepting();
      r->ForEachConnection([](reactor::Connection& connection) { connection.Abort(); });
      r->Stop();
    });
  }
  for (std::thread& thread : threads) thread.join();
  if (!status.ok()) return status;

  SinkRunResult result;
  result.seconds = seconds;
  for (auto& worker : workers) result.stats.Merge(worker->stats);
  return result;
}

}  // namespace etrnd::blaster
