// DnsResolver and ResolveRoute on a real reactor against a local dnsmasq.
#include "etrnd/delivery/dns_resolver.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "../reactor/reactor_on_thread.h"
#include "absl/strings/str_cat.h"
#include "etrnd/delivery/next_hop_resolver.h"
#include "etrnd/reactor/reactor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace etrnd::delivery {
namespace {

using reactor::Reactor;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

constexpr char kDnsmasq[] = "/usr/sbin/dnsmasq";
constexpr auto kAnswerWait = std::chrono::seconds(30);  // a hang fails, it does not block

// A UDP socket bound to 127.0.0.1 on an ephemeral port; never answers.
class UdpSocket {
 public:
  UdpSocket() {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), length) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~UdpSocket() { close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

bool UdpPortTaken(uint16_t port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool taken = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0;
  close(fd);
  return taken;
}

// dnsmasq serving the test zone from its command line only.
class Dnsmasq {
 public:
  // Empty on success, else why dnsmasq could not run.
  std::string Start() {
    if (access(kDnsmasq, X_OK) != 0) return absl::StrCat(kDnsmasq, " is not installed");
    port_ = UdpSocket().port();
    std::vector<std::string> args = {kDnsmasq,
                                     "--no-daemon",
                                     "--no-resolv",
                                     "--no-hosts",
                                     "--bind-interfaces",
                                     "--listen-address=127.0.0.1",
                                     absl::StrCat("--port=", port_),
                                     "--user=root",
                                     "--group=root",
                                     "--pid-file",
                                     "--local=/test/",
                                     "--log-facility=/dev/null",
                                     "--mx-host=mx.test,mail1.mx.test,10",
                                     "--mx-host=mx.test,mail2.mx.test,20",
                                     "--mx-host=equal.test,mail1.mx.test,10",
                                     "--mx-host=equal.test,mail2.mx.test,10",
                                     "--mx-host=badmx.test,nohost.nxdomain-only.test,10",
                                     "--host-record=mail1.mx.test,127.0.0.5",
                                     "--host-record=mail2.mx.test,127.0.0.6",
                                     "--host-record=plain.test,127.0.0.7",
                                     "--host-record=dual.test,127.0.0.8,::8",
                                     "--address=/nxdomain-only.test/"};
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(kDnsmasq, argv.data());
      _exit(127);
    }
    for (int i = 0; i < 500; ++i) {  // up to 5 s for it to bind
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "dnsmasq exited at startup";
      }
      if (UdpPortTaken(port_)) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return "dnsmasq did not bind its port";
  }
  ~Dnsmasq() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::string server() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

std::vector<std::string> Strings(const std::vector<SocketAddress>& addresses) {
  std::vector<std::string> out;
  for (const SocketAddress& address : addresses) out.push_back(address.ToString());
  return out;
}

std::vector<std::string> Strings(const std::vector<IpAddress>& addresses) {
  std::vector<std::string> out;
  for (const IpAddress& address : addresses) out.push_back(address.ToString());
  return out;
}

class DnsResolverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dnsmasq_ = new Dnsmasq();
    start_error_ = new std::string(dnsmasq_->Start());
  }
  static void TearDownTestSuite() {
    delete dnsmasq_;
    delete start_error_;
  }
  void SetUp() override {
    if (!start_error_->empty()) GTEST_SKIP() << "no dnsmasq: " << *start_error_;
    ASSERT_NE(loop_.reactor(), nullptr);
    ASSERT_TRUE(CreateResolver(dnsmasq_->server(), DnsResolverOptions{}).ok());
  }
  void TearDown() override { DestroyResolver(); }

  absl::Status CreateResolver(const std::string& server, const DnsResolverOptions& options) {
    DestroyResolver();
    absl::Status status;
    loop_.RunSync([&] {
      auto created = DnsResolver::Create(*loop_.reactor(), server, options);
      status = created.status();
      if (created.ok()) resolver_ = std::move(*created);
    });
    return status;
  }
  void DestroyResolver() {
    loop_.RunSync([&] { resolver_.reset(); });
  }

  // Starts a lookup on the reactor thread and waits for its answer.
  template <typename Answer>
  Answer Await(std::function<void(std::function<void(Answer)>)> start) {
    auto promise = std::make_shared<std::promise<Answer>>();
    auto future = promise->get_future();
    loop_.reactor()->Post([&start, promise] {
      start([promise](Answer answer) { promise->set_value(std::move(answer)); });
    });
    if (future.wait_for(kAnswerWait) != std::future_status::ready) {
      ADD_FAILURE() << "no answer";
      return absl::DeadlineExceededError("test timeout");
    }
    return future.get();
  }
  absl::StatusOr<std::vector<MxRecord>> Mx(const std::string& domain) {
    return Await<absl::StatusOr<std::vector<MxRecord>>>(
        [&](auto done) { resolver_->LookupMx(domain, std::move(done)); });
  }
  absl::StatusOr<std::vector<IpAddress>> Addresses(const std::string& host) {
    return Await<absl::StatusOr<std::vector<IpAddress>>>(
        [&](auto done) { resolver_->LookupAddresses(host, std::move(done)); });
  }
  absl::StatusOr<std::vector<SocketAddress>> Route(const std::string& domain, RouteSpec spec) {
    return Await<absl::StatusOr<std::vector<SocketAddress>>>(
        [&](auto done) { ResolveRoute(*resolver_, domain, spec, std::move(done)); });
  }

  static Dnsmasq* dnsmasq_;
  static std::string* start_error_;
  reactor::ReactorOnThread loop_;
  std::unique_ptr<DnsResolver> resolver_;
};

Dnsmasq* DnsResolverTest::dnsmasq_ = nullptr;
std::string* DnsResolverTest::start_error_ = nullptr;

RouteSpec Spec(RouteSpec::Kind kind, std::string host, uint16_t port) {
  RouteSpec spec;
  spec.kind = kind;
  spec.host = std::move(host);
  spec.port = port;
  return spec;
}
RouteSpec MxRoute(uint16_t port) { return Spec(RouteSpec::kMx, "", port); }

TEST_F(DnsResolverTest, MxLookupReturnsBothRecords) {
  auto records = Mx("mx.test");
  ASSERT_TRUE(records.ok()) << records.status();
  std::vector<std::pair<int, std::string>> seen;
  for (const MxRecord& record : *records) seen.emplace_back(record.preference, record.host);
  EXPECT_THAT(seen, UnorderedElementsAre(std::make_pair(10, "mail1.mx.test"),
                                         std::make_pair(20, "mail2.mx.test")));
}

TEST_F(DnsResolverTest, MxOfDomainWithoutMxIsEmpty) {
  auto records = Mx("plain.test");
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_TRUE(records->empty());
}

TEST_F(DnsResolverTest, NxdomainIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(Mx("x.nxdomain-only.test").status()));
  EXPECT_TRUE(absl::IsNotFound(Addresses("x.nxdomain-only.test").status()));
}

TEST_F(DnsResolverTest, HostLookupReturnsItsAddresses) {
  auto plain = Addresses("plain.test");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_THAT(Strings(*plain), ElementsAre("127.0.0.7"));
  auto dual = Addresses("dual.test");
  ASSERT_TRUE(dual.ok()) << dual.status();
  EXPECT_THAT(Strings(*dual), UnorderedElementsAre("127.0.0.8", "::8"));
}

TEST_F(DnsResolverTest, ManyConcurrentLookupsAllAnswer) {
  static constexpr int kLookups = 50;
  auto promise = std::make_shared<std::promise<int>>();
  auto future = promise->get_future();
  auto answered = std::make_shared<int>(0);
  auto ok = std::make_shared<int>(0);
  loop_.reactor()->Post([&, promise, answered, ok] {
    for (int i = 0; i < kLookups; ++i) {
      resolver_->LookupAddresses(i % 2 ? "plain.test" : "dual.test",
                                 [promise, answered, ok](auto answer) {
                                   *ok += answer.ok() ? 1 : 0;
                                   if (++*answered == kLookups) promise->set_value(*ok);
                                 });
    }
  });
  ASSERT_EQ(future.wait_for(kAnswerWait), std::future_status::ready);
  EXPECT_EQ(future.get(), kLookups);
}

TEST_F(DnsResolverTest, RouteViaMxIsInPreferenceOrderOnTheGivenPort) {
  auto route = Route("mx.test", MxRoute(2525));
  ASSERT_TRUE(route.ok()) << route.status();
  EXPECT_THAT(Strings(*route), ElementsAre("127.0.0.5:2525", "127.0.0.6:2525"));
}

TEST_F(DnsResolverTest, RouteViaMxDefaultsToPort25) {
  auto route = Route("mx.test", RouteSpec{});
  ASSERT_TRUE(route.ok()) << route.status();
  EXPECT_THAT(Strings(*route), ElementsAre("127.0.0.5:25", "127.0.0.6:25"));
}

TEST_F(DnsResolverTest, RouteViaMxKeepsEqualPreferencesBoth) {
  auto route = Route("equal.test", MxRoute(25));
  ASSERT_TRUE(route.ok()) << route.status();
  EXPECT_THAT(Strings(*route), UnorderedElementsAre("127.0.0.5:25", "127.0.0.6:25"));
}

TEST_F(DnsResolverTest, RouteWithoutMxFallsBackToTheDomainsAddress) {
  auto route = Route("plain.test", MxRoute(25));
  ASSERT_TRUE(route.ok()) << route.status();
  EXPECT_THAT(Strings(*route), ElementsAre("127.0.0.7:25"));
}

TEST_F(DnsResolverTest, RouteDropsOurselvesAndWorseMx) {
  RouteSpec spec = MxRoute(25);
  spec.local_hostname = "mail2.mx.test";
  auto route = Route("mx.test", spec);
  ASSERT_TRUE(route.ok()) << route.status();
  EXPECT_THAT(Strings(*route), ElementsAre("127.0.0.5:25"));
  spec.local_hostname = "mail1.mx.test";
  EXPECT_TRUE(absl::IsUnavailable(Route("mx.test", spec).status()));
}

TEST_F(DnsResolverTest, RouteOfMissingDomainOrMxHostIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(Route("x.nxdomain-only.test", MxRoute(25)).status()));
  EXPECT_TRUE(absl::IsNotFound(Route("badmx.test", MxRoute(25)).status()));
}

TEST_F(DnsResolverTest, RouteToHostAndAddress) {
  auto host = Route("any.example", Spec(RouteSpec::kHost, "plain.test", 2526));
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_THAT(Strings(*host), ElementsAre("127.0.0.7:2526"));
  auto address = Route("any.example", Spec(RouteSpec::kAddress, "2001:db8::1", 26));
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_THAT(Strings(*address), ElementsAre("[2001:db8::1]:26"));
  EXPECT_TRUE(absl::IsInvalidArgument(
      Route("any.example", Spec(RouteSpec::kAddress, "nope", 25)).status()));
}

TEST_F(DnsResolverTest, BadServerIsRejected) {
  EXPECT_TRUE(absl::IsInvalidArgument(CreateResolver("not-an-ip", DnsResolverOptions{})));
}

TEST_F(DnsResolverTest, SilentServerIsUnavailableAfterTimeouts) {
  UdpSocket silent;
  ASSERT_TRUE(CreateResolver(absl::StrCat("127.0.0.1:", silent.port()),
                             DnsResolverOptions{.timeout_ms = 200, .tries = 2})
                  .ok());
  EXPECT_TRUE(absl::IsUnavailable(Mx("mx.test").status()));
  EXPECT_TRUE(absl::IsUnavailable(Addresses("plain.test").status()));
  EXPECT_TRUE(absl::IsUnavailable(Route("mx.test", MxRoute(25)).status()));
}

TEST_F(DnsResolverTest, DeadServerIsUnavailable) {
  uint16_t unused_port = UdpSocket().port();  // closed again: nothing listens there
  ASSERT_TRUE(CreateResolver(absl::StrCat("[::ffff:127.0.0.1]:", unused_port),
                             DnsResolverOptions{.timeout_ms = 200, .tries = 2})
                  .ok());
  EXPECT_TRUE(absl::IsUnavailable(Mx("mx.test").status()));
}

TEST_F(DnsResolverTest, DestroyingWithQueriesOutstandingCancelsEachOnce) {
  UdpSocket silent;
  ASSERT_TRUE(CreateResolver(absl::StrCat("127.0.0.1:", silent.port()),
                             DnsResolverOptions{.timeout_ms = 100, .tries = 1})
                  .ok());
  std::vector<absl::Status> answers;  // touched on the reactor thread only
  loop_.RunSync([&] {
    resolver_->LookupMx("mx.test", [&](auto answer) { answers.push_back(answer.status()); });
    resolver_->LookupAddresses("plain.test",
                               [&](auto answer) { answers.push_back(answer.status()); });
    ResolveRoute(*resolver_, "mx.test", MxRoute(25),
                 [&](auto answer) { answers.push_back(answer.status()); });
  });
  loop_.RunSync([&] {
    EXPECT_TRUE(answers.empty());
    resolver_.reset();
    ASSERT_EQ(answers.size(), 3u);
    for (const absl::Status& status : answers) EXPECT_TRUE(absl::IsCancelled(status)) << status;
  });
  // Past every c-ares timeout: a stray poll or timer callback would show here.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  loop_.RunSync([&] { EXPECT_EQ(answers.size(), 3u); });
}

TEST_F(DnsResolverTest, CallbackMayDestroyTheResolver) {
  auto promise = std::make_shared<std::promise<void>>();
  std::vector<absl::Status> answers;  // touched on the reactor thread only
  loop_.RunSync([&] {
    resolver_->LookupMx("mx.test", [&, promise](auto answer) {
      answers.push_back(answer.status());
      resolver_.reset();
      promise->set_value();
    });
    resolver_->LookupMx("mx.test", [&](auto answer) { answers.push_back(answer.status()); });
  });
  ASSERT_EQ(promise->get_future().wait_for(kAnswerWait), std::future_status::ready);
  loop_.RunSync([&] {
    ASSERT_EQ(answers.size(), 2u);  // the second: its answer, or Cancelled by the reset
    EXPECT_TRUE(answers[0].ok()) << answers[0];
  });
}

}  // namespace
}  // namespace etrnd::delivery
