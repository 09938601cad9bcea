// Drives a real reactor on loopback: accept, multishot recv, partial sends,
// outbound connect, timers, cross-thread Post and file I/O through the ring.
#include "etrnd/reactor/reactor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "reactor_on_thread.h"

namespace etrnd::reactor {
namespace {

// After a role change (ReplaceHandler): echoes in upper case.
class UpperHandler : public ConnectionHandler {
 public:
  void OnOpen(Connection& conn) override { conn.Send(std::string("swapped\n")); }
  void OnReceive(Connection& conn, std::string_view bytes) override {
    std::string upper(bytes);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    conn.Send(std::move(upper));
  }
  void OnClosed(Connection&, int) override {}
};

// Echoes every byte; closes on "quit"; hands over to UpperHandler on "swap".
class EchoHandler : public ConnectionHandler {
 public:
  void OnOpen(Connection& conn) override { conn.Send(std::string("hello\n")); }
  void OnReceive(Connection& conn, std::string_view bytes) override {
    if (bytes.find("swap") != std::string_view::npos) {
      conn.ReplaceHandler(std::make_unique<UpperHandler>());
      return;
    }
    if (bytes.find("quit") != std::string_view::npos) {
      conn.Send(std::string("bye\n"));
      conn.Close();
      return;
    }
    conn.Send(bytes);
  }
  void OnClosed(Connection&, int) override {}
};

int ConnectBlocking(const SocketAddress& address) {
  sockaddr_storage storage;
  socklen_t length = address.ToSockaddr(&storage);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string ReadExactly(int fd, size_t bytes) {
  std::string out;
  char buffer[65536];
  while (out.size() < bytes) {
    ssize_t n = read(fd, buffer, std::min(sizeof(buffer), bytes - out.size()));
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

// The loop on its own thread, echoing on a loopback port.
class ReactorThread : public ReactorOnThread {
 public:
  ReactorThread()
      : ReactorOnThread([](Reactor& reactor) {
          return ListenOnLoopback(reactor,
                                  [](Reactor&, const SocketAddress&, const SocketAddress&) {
                                    return std::make_unique<EchoHandler>();
                                  });
        }) {}
};

TEST(ReactorTest, EchoesAndClosesGracefully) {
  ReactorThread loop;
  ASSERT_NE(loop.reactor(), nullptr);
  int fd = ConnectBlocking(loop.address());
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadExactly(fd, 6), "hello\n");
  ASSERT_EQ(write(fd, "abc", 3), 3);
  EXPECT_EQ(ReadExactly(fd, 3), "abc");
  ASSERT_EQ(write(fd, "quit", 4), 4);
  EXPECT_EQ(ReadExactly(fd, 4), "bye\n");
  char byte;
  EXPECT_EQ(read(fd, &byte, 1), 0);  // orderly close after the reply
  close(fd);
}

TEST(ReactorTest, ReplaceHandlerHandsTheStreamToANewHandler) {
  ReactorThread loop;
  ASSERT_NE(loop.reactor(), nullptr);
  int fd = ConnectBlocking(loop.address());
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadExactly(fd, 6), "hello\n");
  ASSERT_EQ(write(fd, "swap", 4), 4);
  EXPECT_EQ(ReadExactly(fd, 8), "swapped\n");
  ASSERT_EQ(write(fd, "abc quit", 8), 8);  // "quit" means nothing to the new handler
  EXPECT_EQ(ReadExactly(fd, 8), "ABC QUIT");
  close(fd);
}

TEST(ReactorTest, LargeTransferSurvivesPartialWritesAndBufferRecycling) {
  ReactorThread loop;
  ASSERT_NE(loop.reactor(), nullptr);
  int fd = ConnectBlocking(loop.address());
  ASSERT_GE(fd, 0);
  EXPECT_EQ(ReadExactly(fd, 6), "hello\n");
  // Far more than the provided buffer pool (1024 x 16 KiB) in flight overall.
  std::string payload(24 * 1024 * 1024, 'x');
  for (size_t i = 0; i < payload.size(); i += 4093) payload[i] = static_cast<char>('a' + i % 26);
  std::thread writer([&] {
    size_t sent = 0;
    while (sent < payload.size()) {
      ssize_t n =
          write(fd, payload.data() + sent, std::min<size_t>(1 << 20, payload.size() - sent));
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
  });
  std::string echoed = ReadExactly(fd, payload.size());
  writer.join();
  EXPECT_EQ(echoed.size(), payload.size());
  EXPECT_TRUE(echoed == payload);
  close(fd);
}

TEST(ReactorTest, ManyConcurrentConnections) {
  ReactorThread loop;
  ASSERT_NE(loop.reactor(), nullptr);
  std::vector<int> fds;
  for (int i = 0; i < 200; ++i) {
    int fd = ConnectBlocking(loop.address());
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  for (int fd : fds) EXPECT_EQ(ReadExactly(fd, 6), "hello\n");
  for (size_t i = 0; i < fds.size(); ++i) {
    std::string message = "m" + std::to_string(i);
    ASSERT_EQ(write(fds[i], message.data(), message.size()), static_cast<ssize_t>(message.size()));
    EXPECT_EQ(ReadExactly(fds[i], message.size()), message);
  }
  for (int fd : fds) close(fd);
}

class RecordingClient : public ConnectionHandler {
 public:
  explicit RecordingClient(std::promise<std::string>* result) : result_(result) {}
  void OnOpen(Connection& conn) override { conn.Send(std::string("quit")); }
  void OnReceive(Connection&, std::string_view bytes) override { received_.append(bytes); }
  void OnClosed(Connection&, int error) override {
    result_->set_value(error == 0 ? received_ : "error " + std::to_string(error));
  }

 private:
  std::promise<std::string>* result_;
  std::string received_;
};

TEST(ReactorTest, OutboundConnectTalksToListener) {
  ReactorThread loop;
  ASSERT_NE(loop.reactor(), nullptr);
  std::promise<std::string> result;
  auto future = result.get_future();
  SocketAddress target = loop.address();
  loop.reactor()->Post([&loop, &result, target] {
    loop.reactor()->Connect(target, std::make_unique<RecordingClient>(&result));
  });
  EXPECT_EQ(future.get(), "hello\nbye\n");
}

TEST(ReactorTest, ConnectFailureIsReported) {
  ReactorThread loop;
  ASSERT_NE(loop.reactor(), nullptr);
  // A port nobody listens on: bind then close to find one.
  int probe = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t length = sizeof(addr);
  getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &length);
  close(probe);
  SocketAddress target = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&addr));
  std::promise<std::string> result;
  auto future = result.get_future();
  loop.reactor()->Post([&loop, &result, target] {
    loop.reactor()->Connect(target, std::make_unique<RecordingClient>(&result));
  });
  EXPECT_EQ(future.get(), "error " + std::to_string(-ECONNREFUSED));
}

TEST(ReactorTest, TimersFireInOrderAndCancelWorks) {
  ReactorThread loop;
  ASSERT_NE(loop.reactor(), nullptr);
  std::promise<std::string> result;
  auto future = result.get_future();
  auto order = std::make_shared<std::string>();
  loop.reactor()->Post([&loop, &result, order] {
    Reactor* r = loop.reactor();
    r->RunAfter(absl::Milliseconds(30), [order, &result] {
      order->append("b");
      result.set_value(*order);
    });
    Reactor::TimerId cancelled =
        r->RunAfter(absl::Milliseconds(10), [order] { order->append("x"); });
    r->RunAfter(absl::Milliseconds(5), [order] { order->append("a"); });
    r->CancelTimer(cancelled);
  });
  EXPECT_EQ(future.get(), "ab");
}

TEST(ReactorTest, FileWriteAndFdatasyncThroughRing) {
  ReactorThread loop;
  ASSERT_NE(loop.reactor(), nullptr);
  char path[] = "/tmp/etrnd-reactor-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::promise<int> result;
  auto future = result.get_future();
  static const char kFirst[] = "hello ";
  static const char kSecond[] = "world";
  loop.reactor()->Post([&loop, &result, fd] {
    std::vector<iovec> iov = {{const_cast<char*>(kFirst), 6}, {const_cast<char*>(kSecond), 5}};
    loop.reactor()->WriteV(fd, std::move(iov), 0, [&loop, &result, fd](int written) {
      if (written != 11) {
        result.set_value(written);
        return;
      }
      loop.reactor()->Fdatasync(
          fd, [&result](int synced) { result.set_value(synced == 0 ? 11 : synced); });
    });
  });
  EXPECT_EQ(future.get(), 11);
  char buffer[16] = {0};
  EXPECT_EQ(pread(fd, buffer, sizeof(buffer), 0), 11);
  EXPECT_STREQ(buffer, "hello world");
  close(fd);
  unlink(path);
}

TEST(ReactorTest, PollReportsReadinessAndCancelWorks) {
  ReactorThread loop;
  ASSERT_NE(loop.reactor(), nullptr);
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  std::promise<std::string> result;
  auto future = result.get_future();
  auto events = std::make_shared<std::string>();
  loop.reactor()->Post([&loop, &result, events, pipe_fds] {
    Reactor* r = loop.reactor();
    Reactor::PollId cancelled = r->PollOnce(pipe_fds[0], POLLIN, [events](int res) {
      events->append(res == -ECANCELED ? "cancelled," : "unexpected,");
    });
    r->CancelPoll(cancelled);
    r->PollOnce(pipe_fds[0], POLLIN, [events, &result](int res) {
      events->append((res & POLLIN) != 0 ? "readable" : "error");
      result.set_value(*events);
    });
    // Write only after the cancel has been processed by the kernel.
    r->RunAfter(absl::Milliseconds(20),
                [pipe_fds] { [[maybe_unused]] ssize_t n = write(pipe_fds[1], "x", 1); });
  });
  EXPECT_EQ(future.get(), "cancelled,readable");
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

TEST(ReactorTest, PostFromManyThreadsRunsEveryTask) {
  ReactorThread loop;
  ASSERT_NE(loop.reactor(), nullptr);
  std::atomic<int> counter{0};
  std::promise<void> done;
  auto future = done.get_future();
  constexpr int kThreads = 4;
  constexpr int kTasksPerThread = 5000;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&] {
      for (int i = 0; i < kTasksPerThread; ++i) {
        loop.reactor()->Post([&] {
          if (counter.fetch_add(1) + 1 == kThreads * kTasksPerThread) done.set_value();
        });
      }
    });
  }
  for (auto& p : producers) p.join();
  future.get();
  EXPECT_EQ(counter.load(), kThreads * kTasksPerThread);
}

}  // namespace
}  // namespace etrnd::reactor
