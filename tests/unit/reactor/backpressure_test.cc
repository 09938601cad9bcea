// The reactor's bounds against peers that do not play along: paused reading
// (back-pressure), aborts with a send in flight, and Close()'s drain deadline.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "etrnd/reactor/reactor.h"
#include "gtest/gtest.h"

namespace etrnd::reactor {
namespace {

// What the handler saw, readable from the test thread.
struct Observed {
  std::atomic<size_t> received{0};
  std::atomic<int> closed_error{1};  // 1 = not closed yet
  std::string bytes;                 // reactor thread only until closed
};

enum class Mode { kPauseAtOnce, kFloodThenAbort, kFloodThenClose };

class TestHandler : public ConnectionHandler {
 public:
  TestHandler(Mode mode, Observed* observed, Connection** out)
      : mode_(mode), observed_(observed), out_(out) {}
  void OnOpen(Connection& conn) override {
    *out_ = &conn;
    if (mode_ == Mode::kPauseAtOnce) conn.PauseReceive();
    if (mode_ != Mode::kPauseAtOnce) {
      // Far more than the socket buffers hold: a send stays in flight.
      for (int i = 0; i < 64; ++i) conn.Send(std::string(128 * 1024, 'r'));
      if (mode_ == Mode::kFloodThenClose) conn.Close();
    }
  }
  void OnReceive(Connection&, std::string_view bytes) override {
    observed_->bytes.append(bytes);
    observed_->received += bytes.size();
  }
  void OnClosed(Connection&, int error) override {
    *out_ = nullptr;
    observed_->closed_error = error;
  }

 private:
  Mode mode_;
  Observed* observed_;
  Connection** out_;
};

class Loop {
 public:
  Loop(Mode mode, ReactorOptions options = {}) {
    std::promise<bool> ready;
    thread_ = std::thread([this, mode, options, &ready] {
      auto created = Reactor::Create(0, options);
      if (!created.ok()) return ready.set_value(false);
      reactor_ = std::move(*created);
      auto status =
          reactor_->Listen(*SocketAddress::Parse("127.0.0.1:0"),
                           [this, mode](Reactor&, const SocketAddress&, const SocketAddress&) {
                             return std::make_unique<TestHandler>(mode, &observed_, &connection_);
                           });
      address_ = reactor_->ListeningAddresses().at(0);
      ready.set_value(status.ok());
      reactor_->Run();
    });
    ok_ = ready.get_future().get();
  }
  ~Loop() {
    if (ok_) {
      reactor_->Post([this] { reactor_->ForEachConnection([](Connection& c) { c.Abort(); }); });
      reactor_->Stop();
    }
    thread_.join();
  }
  // Runs fn on the reactor thread and waits for it.
  void RunOnLoop(std::function<void()> fn) {
    std::promise<void> done;
    reactor_->Post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
  int Connect(int receive_buffer = 0) {
    sockaddr_storage storage;
    socklen_t length = address_.ToSockaddr(&storage);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    timeval timeout{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&storage), length), 0);
    return fd;
  }
  bool WaitClosed(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (observed_.closed_error != 1) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  bool ok() const { return ok_; }
  Observed& observed() { return observed_; }
  Connection*& connection() { return connection_; }

 private:
  std::thread thread_;
  std::unique_ptr<Reactor> reactor_;
  SocketAddress address_;
  Observed observed_;
  Connection* connection_ = nullptr;
  bool ok_ = false;
};

class PauseTest : public ::testing::TestWithParam<bool> {};

TEST_P(PauseTest, PausedConnectionIsNotReadAndResumeDeliversEverythingInOrder) {
  const bool multishot = GetParam();
  ReactorOptions options;
  options.accepted_multishot_recv = multishot;
  Loop loop(Mode::kPauseAtOnce, options);
  ASSERT_TRUE(loop.ok());
  int fd = loop.Connect();
  std::string payload;
  for (int i = 0; i < 200000; ++i) payload += static_cast<char>('a' + i % 26);
  payload += payload;  // 400 KB
  std::thread writer([&] {
    size_t sent = 0;
    while (sent < payload.size()) {
      ssize_t n = write(fd, payload.data() + sent, payload.size() - sent);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Paused before the first byte: one-shot receives hand over at most the
  // buffer already asked for. A multishot one hands over whatever arrived
  // before its cancel took effect (timing-dependent, so not asserted here:
  // that is why sessions under back-pressure use one-shot receives).
  if (!multishot) EXPECT_LE(loop.observed().received.load(), 16u * 1024);
  loop.RunOnLoop([&] { loop.connection()->ResumeReceive(); });
  writer.join();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (loop.observed().received < payload.size() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string seen;
  loop.RunOnLoop([&] { seen = loop.observed().bytes; });
  EXPECT_TRUE(seen == payload) << seen.size() << " of " << payload.size();
  close(fd);
}

INSTANTIATE_TEST_SUITE_P(OneShotAndMultishot, PauseTest, ::testing::Bool());

TEST(ReactorBackpressureTest, AbortWithASendInFlightResetsThePeerAndFinishes) {
  Loop loop(Mode::kFloodThenAbort);
  ASSERT_TRUE(loop.ok());
  int fd = loop.Connect(4096);  // never reads: the reactor's send stays in flight
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  loop.RunOnLoop([&] {
    ASSERT_NE(loop.connection(), nullptr);
    EXPECT_GT(loop.connection()->pending_output_bytes(), 0u);
    loop.connection()->Abort();
  });
  // Before: Abort() left the socket open and the sendmsg in flight for ever.
  EXPECT_TRUE(loop.WaitClosed(std::chrono::seconds(5)));
  char buffer[65536];
  ssize_t n;
  do {
    n = read(fd, buffer, sizeof(buffer));
  } while (n > 0);
  EXPECT_EQ(n, -1);
  EXPECT_EQ(errno, ECONNRESET);
  close(fd);
}

TEST(ReactorBackpressureTest, CloseGivesUpOnAPeerThatDoesNotReadAfterTheDrainTimeout) {
  ReactorOptions options;
  options.close_drain_timeout = absl::Milliseconds(300);
  Loop loop(Mode::kFloodThenClose, options);
  ASSERT_TRUE(loop.ok());
  int fd = loop.Connect(4096);
  EXPECT_FALSE(loop.WaitClosed(std::chrono::milliseconds(100)));
  EXPECT_TRUE(loop.WaitClosed(std::chrono::seconds(5)));
  close(fd);
}

TEST(ReactorBackpressureTest, CloseFinishesNormallyWhenThePeerReads) {
  ReactorOptions options;
  options.close_drain_timeout = absl::Seconds(30);
  Loop loop(Mode::kFloodThenClose, options);
  ASSERT_TRUE(loop.ok());
  int fd = loop.Connect();
  size_t total = 0;
  char buffer[65536];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    total += static_cast<size_t>(n);
  }
  EXPECT_EQ(total, 64u * 128 * 1024);  // every byte, then an orderly EOF
  EXPECT_TRUE(loop.WaitClosed(std::chrono::seconds(5)));
  EXPECT_EQ(loop.observed().closed_error.load(), 0);
  close(fd);
}

}  // namespace
}  // namespace etrnd::reactor
