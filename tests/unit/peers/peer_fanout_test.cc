// PeerFanout and PeerLink on a real reactor against scripted peers on
// loopback: counts that come in time, a silent peer bounded by the timeout,
// a down peer not waited for, and the per-link bound on waiting ETRNs.
#include "etrnd/peers/peer_fanout.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace etrnd::peers {
namespace {

// A peer that greets, answers EHLO, and answers ETRN with 253 and 5
// messages (or never, when silent).
class FakePeer : public reactor::ConnectionHandler {
 public:
  explicit FakePeer(bool silent) : silent_(silent) {}
  void OnOpen(reactor::Connection& conn) override { conn.Send(std::string("220 peer\r\n")); }
  void OnReceive(reactor::Connection& conn, std::string_view bytes) override {
    buffer_.append(bytes);
    for (size_t end; (end = buffer_.find("\r\n")) != std::string::npos;) {
      const std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      if (absl::StartsWith(line, "EHLO")) {
        conn.Send(std::string("250-peer\r\n250 ETRN\r\n"));
      } else if (absl::StartsWith(line, "ETRN ") && !silent_) {
        conn.Send("253 2.0.0 OK, 5 pending messages for node " + line.substr(5) + " started\r\n");
      }
    }
  }
  void OnClosed(reactor::Connection&, int) override {}

 private:
  bool silent_;
  std::string buffer_;
};

// One reactor thread with two scripted peers (answering, silent) and a
// fan-out to the peers named in the test.
class FanoutTest : public ::testing::Test {
 protected:
  void Start(bool with_answering, bool with_silent, bool with_down) {
    std::promise<void> ready;
    thread_ = std::thread([&] {
      reactor_ = *reactor::Reactor::Create(0, reactor::ReactorOptions{});
      PeerOptions options;
      auto listen = [&](bool silent) {
        EXPECT_TRUE(
            reactor_
                ->Listen(*SocketAddress::Parse("127.0.0.1:0"),
                         [silent](reactor::Reactor&, const SocketAddress&, const SocketAddress&) {
                           return std::make_unique<FakePeer>(silent);
                         })
                .ok());
        SocketAddress address = reactor_->ListeningAddresses().back();
        options.peers.push_back(address);
        options.peer_names.push_back(address.ToString());
      };
      if (with_answering) listen(false);
      if (with_silent) listen(true);
      if (with_down) {
        // Bound and closed at once: nobody listens there.
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
        socklen_t length = sizeof(sin);
        getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &length);
        close(fd);
        SocketAddress address = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&sin));
        options.peers.push_back(address);
        options.peer_names.push_back(address.ToString());
      }
      fanout_ =
          std::make_unique<PeerFanout>(*reactor_, options, "node.test", PeerFanout::TlsClient());
      fanout_->Start();
      ready.set_value();
      reactor_->Run();
    });
    ready.get_future().wait();
  }

  void TearDown() override {
    if (!thread_.joinable()) return;
    reactor_->Post([this] {
      fanout_->Stop();
      reactor_->Stop();
    });
    thread_.join();
    fanout_.reset();
    reactor_.reset();
  }

  // One Forward on the reactor's thread; its count.
  size_t Forward(absl::Duration timeout) {
    std::promise<size_t> result;
    reactor_->Post(
        [&] { fanout_->Forward("example.com", timeout, [&](size_t n) { result.set_value(n); }); });
    return result.get_future().get();
  }

  FanoutCounters Counters() {
    std::promise<FanoutCounters> result;
    reactor_->Post([&] { result.set_value(fanout_->counters()); });
    return result.get_future().get();
  }

  // Forwards until the answering peer's link is up and counted.
  size_t ForwardUntilCounted(size_t want) {
    size_t got = 0;
    for (int i = 0; i < 100 && got != want; ++i) {
      got = Forward(absl::Milliseconds(500));
      if (got != want) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return got;
  }

  std::thread thread_;
  std::unique_ptr<reactor::Reactor> reactor_;
  std::unique_ptr<PeerFanout> fanout_;
};

TEST_F(FanoutTest, CountsAnAnsweringPeer) {
  Start(/*with_answering=*/true, /*with_silent=*/false, /*with_down=*/false);
  EXPECT_EQ(ForwardUntilCounted(5), 5u);
  EXPECT_EQ(Forward(absl::Seconds(5)), 5u);
  EXPECT_GE(Counters().in_time, 2u);
}

TEST_F(FanoutTest, SilentPeerIsBoundedByTheTimeoutAndAddsNothing) {
  Start(true, /*with_silent=*/true, false);
  EXPECT_EQ(ForwardUntilCounted(5), 5u);  // the silent one never adds
  const FanoutCounters before = Counters();
  EXPECT_EQ(Forward(absl::Milliseconds(100)), 5u);
  EXPECT_EQ(Counters().in_time, before.in_time + 1);
}

TEST_F(FanoutTest, DownPeerIsNotWaitedFor) {
  Start(false, false, /*with_down=*/true);
  for (int i = 0; i < 100 && Counters().down == 0; ++i) {
    EXPECT_EQ(Forward(absl::Seconds(30)), 0u);  // never the 30 s: nobody is awaited
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(Counters().down, 1u);
}

TEST_F(FanoutTest, WaitingEtrnsPerLinkAreBounded) {
  Start(false, /*with_silent=*/true, false);
  // Whether the link is up yet (awaited, then late) or still connecting
  // (queued), the ETRNs wait on the link, and only kPeerEtrnsInFlightMax.
  const size_t sent = kPeerEtrnsInFlightMax + 8;
  for (size_t i = 0; i < sent; ++i) EXPECT_EQ(Forward(absl::ZeroDuration()), 0u);
  const FanoutCounters counters = Counters();
  EXPECT_EQ(counters.dropped, 8u);
  // The silent peer answered none of the others in time.
  EXPECT_EQ(counters.in_time, 0u);
}

}  // namespace
}  // namespace etrnd::peers
