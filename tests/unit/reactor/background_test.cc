// Background connections (outbound deliveries) yield to everything else:
// their completions, and the file operations submitted while handling them,
// run after the turn's foreground work. Checked on a real reactor on
// loopback, with the reactor held busy while both kinds of data arrive so
// that they are in the same turn's completions.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "etrnd/reactor/reactor.h"
#include "gtest/gtest.h"
#include "reactor_on_thread.h"

namespace etrnd::reactor {
namespace {

// A 10-byte regular file for the handlers to read through the ring.
std::string TempFileOfDigits() {
  char path[] = "/tmp/etrnd-background-XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) {
    [[maybe_unused]] ssize_t n = write(fd, "0123456789", 10);
    close(fd);
  }
  return path;
}

// What the handlers saw, in order (reactor thread only until joined).
struct Shared {
  std::vector<std::string> handled;       // "F:<bytes>" or "B:<bytes>"
  Connection* background = nullptr;       // the background connection, once known
  std::string file = TempFileOfDigits();  // a regular file to read through the ring
  std::vector<TurnProfile> turns;
  std::vector<std::pair<absl::Time, absl::Time>> spins;  // background work items
  int idle_turns = 0;                                    // turns that handled no completion at all
};

void Spin(absl::Duration d) {
  const absl::Time until = absl::Now() + d;
  while (absl::Now() < until) {
  }
}

// The first byte says what the connection is: 'B' background, 'F' not.
// Later bytes are recorded; "kill" aborts the background connection; "read"
// reads the file through the ring and records the completion.
class ClassifyingHandler : public ConnectionHandler {
 public:
  explicit ClassifyingHandler(Shared& shared) : shared_(shared) {}
  void OnOpen(Connection&) override {}
  void OnReceive(Connection& conn, std::string_view bytes) override {
    if (!classified_) {
      classified_ = true;
      background_ = bytes.substr(0, 1) == "B";
      conn.SetBackground(background_);
      if (background_) shared_.background = &conn;
      conn.Send(std::string("ok\n"));
      return;
    }
    const std::string tag = background_ ? "B:" : "F:";
    shared_.handled.push_back(tag + std::string(bytes));
    if (bytes == "kill" && shared_.background != nullptr) {
      shared_.background->Abort();
      shared_.background = nullptr;
    }
    if (bytes == "spin") {
      // Twenty file reads whose completions (background: submitted here)
      // each take longer than a background slice.
      for (int i = 0; i < 20; ++i) {
        int fd = open(shared_.file.c_str(), O_RDONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        conn.reactor().Read(fd, buffer_, sizeof(buffer_), 0, [this, fd, &conn](int) {
          close(fd);
          const absl::Time started = absl::Now();
          Spin(absl::Microseconds(300));
          shared_.spins.emplace_back(started, absl::Now());
          if (shared_.spins.size() == 20) conn.Send(std::string("spun\n"));
        });
      }
      return;
    }
    if (bytes == "read") {
      int fd = open(shared_.file.c_str(), O_RDONLY | O_CLOEXEC);
      ASSERT_GE(fd, 0);
      conn.reactor().Read(fd, buffer_, sizeof(buffer_), 0, [this, fd, tag, &conn](int res) {
        close(fd);
        shared_.handled.push_back(tag + "read " + std::to_string(res));
        conn.Send(std::string("read\n"));
      });
      return;
    }
    conn.Send(std::string(bytes));
  }
  void OnClosed(Connection& conn, int) override {
    if (shared_.background == &conn) shared_.background = nullptr;
  }

 private:
  Shared& shared_;
  bool classified_ = false;
  bool background_ = false;
  char buffer_[64];
};

class BackgroundLoop {
 public:
  explicit BackgroundLoop(const ReactorOptions& options = ReactorOptions{})
      : loop_(
            [this](Reactor& reactor) {
              reactor.SetTurnObserver([this](const TurnProfile& turn) {
                if (turn.background.count > 0 || turn.completions.count > 0) {
                  shared_.turns.push_back(turn);
                } else {
                  ++shared_.idle_turns;
                }
              });
              return ListenOnLoopback(reactor,
                                      [this](Reactor&, const SocketAddress&, const SocketAddress&) {
                                        return std::make_unique<ClassifyingHandler>(shared_);
                                      });
            },
            options) {}
  ~BackgroundLoop() { Join(); }

  // Stops the loop; shared() may be read afterwards.
  void Join() {
    loop_.Join();
    if (!shared_.file.empty()) unlink(shared_.file.c_str());
  }

  // A client connection classified by its first byte (after "ok\n").
  int Connect(char kind) {
    sockaddr_storage storage;
    socklen_t length = loop_.address().ToSockaddr(&storage);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    if (connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
      close(fd);
      return -1;
    }
    if (write(fd, &kind, 1) != 1 || Read(fd, 3) != "ok\n") {
      close(fd);
      return -1;
    }
    return fd;
  }

  // Holds the reactor's thread in a posted task until the returned release
  // is called, so that what the test sends meanwhile lands in one turn.
  std::function<void()> HoldLoop() {
    auto held = std::make_shared<std::promise<void>>();
    auto release = std::make_shared<std::promise<void>>();
    auto released = release->get_future().share();
    loop_.reactor()->Post([held, released] {
      held->set_value();
      released.wait_for(std::chrono::seconds(10));
    });
    held->get_future().wait();
    return [release] { release->set_value(); };
  }

  static std::string Read(int fd, size_t bytes) {
    std::string out;
    char buffer[256];
    while (out.size() < bytes) {
      ssize_t n = read(fd, buffer, std::min(sizeof(buffer), bytes - out.size()));
      if (n <= 0) break;
      out.append(buffer, static_cast<size_t>(n));
    }
    return out;
  }

  Shared& shared() { return shared_; }

 private:
  Shared shared_;
  // After shared_: the loop's handlers use it from the start.
  ReactorOnThread loop_;
};

// One background and one foreground client connection on a fresh loop.
class ReactorBackgroundTest : public ::testing::Test {
 protected:
  explicit ReactorBackgroundTest(const ReactorOptions& options = ReactorOptions{})
      : loop_(options) {}
  void SetUp() override {
    background_ = loop_.Connect('B');
    foreground_ = loop_.Connect('F');
    ASSERT_GE(background_, 0);
    ASSERT_GE(foreground_, 0);
  }
  void TearDown() override {
    loop_.Join();
    close(background_);
    close(foreground_);
  }
  // Background bytes first, then foreground ones, while the loop is held:
  // both are in the same turn's completions, in that order.
  void SendInOneTurn(std::string_view to_background, std::string_view to_foreground) {
    auto release = loop_.HoldLoop();
    ASSERT_EQ(write(background_, to_background.data(), to_background.size()),
              static_cast<ssize_t>(to_background.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(write(foreground_, to_foreground.data(), to_foreground.size()),
              static_cast<ssize_t>(to_foreground.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    release();
  }

  BackgroundLoop loop_;
  int background_ = -1;
  int foreground_ = -1;
};

TEST_F(ReactorBackgroundTest, ForegroundDataOfTheSameTurnIsHandledFirst) {
  SendInOneTurn("b1", "f1");
  EXPECT_EQ(BackgroundLoop::Read(foreground_, 2), "f1");
  EXPECT_EQ(BackgroundLoop::Read(background_, 2), "b1");
  loop_.Join();
  // The background data arrived first but is handled after the foreground.
  EXPECT_EQ(loop_.shared().handled, (std::vector<std::string>{"F:f1", "B:b1"}));
}

TEST_F(ReactorBackgroundTest, FileOpsSubmittedByBackgroundWorkAreBackground) {
  ASSERT_EQ(write(background_, "read", 4), 4);
  EXPECT_EQ(BackgroundLoop::Read(background_, 5), "read\n");
  ASSERT_EQ(write(foreground_, "read", 4), 4);
  EXPECT_EQ(BackgroundLoop::Read(foreground_, 5), "read\n");
  loop_.Join();
  EXPECT_EQ(loop_.shared().handled,
            (std::vector<std::string>{"B:read", "B:read 10", "F:read", "F:read 10"}));
  // The background connection's receive and its file read ran in the
  // background phase; the foreground ones among the ordinary completions.
  int background_files = 0;
  int foreground_files = 0;
  for (const TurnProfile& turn : loop_.shared().turns) {
    if (std::string(turn.background.longest_kind) == "file") ++background_files;
    if (std::string(turn.completions.longest_kind) == "file") ++foreground_files;
  }
  EXPECT_GE(background_files, 1);
  EXPECT_GE(foreground_files, 1);
}

TEST_F(ReactorBackgroundTest, AbortWhileItsCompletionsAreHeldDropsThemSafely) {
  SendInOneTurn("b2", "kill");
  EXPECT_EQ(BackgroundLoop::Read(foreground_, 4), "kill");
  char byte;
  EXPECT_LE(read(background_, &byte, 1), 0);  // reset: the held data never reached it
  ASSERT_EQ(write(foreground_, "f2", 2), 2);  // and the loop goes on
  EXPECT_EQ(BackgroundLoop::Read(foreground_, 2), "f2");
  loop_.Join();
  EXPECT_EQ(loop_.shared().handled, (std::vector<std::string>{"F:kill", "F:f2"}));
}

TEST_F(ReactorBackgroundTest, WhileAClientIsActiveBackgroundWorkRestsBetweenSlices) {
  std::atomic<bool> done{false};
  std::thread client([&] {  // keeps the foreground connection active
    char echo[8];
    while (!done) {
      if (write(foreground_, "f", 1) != 1 || read(foreground_, echo, sizeof(echo)) <= 0) break;
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(write(background_, "spin", 4), 4);
  EXPECT_EQ(BackgroundLoop::Read(background_, 5), "spun\n");
  done = true;
  client.join();
  loop_.Join();
  const auto& spins = loop_.shared().spins;
  ASSERT_EQ(spins.size(), 20u);
  // Each 300 us item overruns its 100 us slice, so a rest at least as long
  // follows it (a late thread only makes the gap longer). Without pacing
  // they would run back to back. Half, not all: the client's thread may be
  // descheduled for longer than kClientsRecent on a busy machine.
  int rested = 0;
  for (size_t i = 1; i < spins.size(); ++i) {
    if (spins[i].first - spins[i - 1].second >= absl::Microseconds(290)) ++rested;
  }
  EXPECT_GE(rested, 10) << "of 19 gaps";
}

// A hold of two: the twenty reads' completions overflow it at once.
class ReactorSmallHoldTest : public ReactorBackgroundTest {
 protected:
  static ReactorOptions SmallHold() {
    ReactorOptions options;
    options.background_held_max = 2;
    options.background_busy_share_percent = 10;
    return options;
  }
  ReactorSmallHoldTest() : ReactorBackgroundTest(SmallHold()) {}
};

TEST_F(ReactorSmallHoldTest, AFullHoldRunsItsOldestAndTheRingIsStillRead) {
  std::atomic<bool> done{false};
  std::atomic<int> echoes{0};
  std::thread client([&] {  // keeps the foreground connection active
    char echo[8];
    while (!done) {
      if (write(foreground_, "f", 1) != 1 || read(foreground_, echo, sizeof(echo)) <= 0) break;
      ++echoes;
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int echoes_before = echoes;
  const absl::Time started = absl::Now();
  ASSERT_EQ(write(background_, "spin", 4), 4);
  EXPECT_EQ(BackgroundLoop::Read(background_, 5), "spun\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  done = true;
  client.join();
  loop_.Join();
  const double elapsed_ms = absl::ToDoubleMilliseconds(absl::Now() - started);
  EXPECT_EQ(loop_.shared().spins.size(), 20u);
  // Every work item ran once, in order, and the client kept its answers.
  for (size_t i = 1; i < loop_.shared().spins.size(); ++i) {
    EXPECT_GE(loop_.shared().spins[i].first, loop_.shared().spins[i - 1].second);
  }
  EXPECT_GT(echoes, echoes_before);
  // Left in the ring, an overflowing completion made every wait return at
  // once until the share allowed a slice: over a hundred turns a
  // millisecond that handled nothing (measured: 3,755 in 32 ms). Now only
  // the waits for the budget (and the set-up's tasks) end with no
  // completion, about one a millisecond.
  EXPECT_LT(loop_.shared().idle_turns, 10 * elapsed_ms) << "in " << elapsed_ms << " ms";
}

}  // namespace
}  // namespace etrnd::reactor
