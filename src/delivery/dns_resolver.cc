#include "etrnd/delivery/dns_resolver.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <poll.h>

#include <cerrno>
#include <deque>
#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "etrnd/common/log.h"

namespace etrnd::delivery {
namespace {

using reactor::Reactor;

// Maps a c-ares failure to what delivery does with it: NotFound bounces,
// Unavailable defers, Cancelled means the resolver went away.
absl::Status FailureStatus(int status, const char* what, const std::string& name) {
  std::string message =
      absl::StrCat("DNS ", what, " lookup of ", name, ": ", ares_strerror(status));
  switch (status) {
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
    case ARES_ENODATA:
      return absl::NotFoundError(message);
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return absl::CancelledError(message);
    case ARES_EBADNAME:
    case ARES_EBADFAMILY:
      return absl::InvalidArgumentError(message);
    case ARES_ENOMEM:
      return absl::ResourceExhaustedError(message);
    default:  // ETIMEOUT, ESERVFAIL, EREFUSED, ECONNREFUSED, EBADRESP, ...
      return absl::UnavailableError(message);
  }
}

absl::Status CancelledStatus(const std::string& name) {
  return absl::CancelledError(absl::StrCat("DNS lookup of ", name, ": resolver shut down"));
}

absl::StatusOr<std::vector<MxRecord>> ParseMxAnswer(int status, const unsigned char* answer,
                                                    int length, const std::string& domain) {
  // NODATA: the domain exists but publishes no MX (RFC 5321 5.1 fallback).
  if (status == ARES_ENODATA) return std::vector<MxRecord>{};
  if (status != ARES_SUCCESS) return FailureStatus(status, "MX", domain);
  ares_mx_reply* replies = nullptr;
  int parsed = ares_parse_mx_reply(answer, length, &replies);
  if (parsed == ARES_ENODATA) return std::vector<MxRecord>{};  // e.g. only a CNAME
  if (parsed != ARES_SUCCESS) return FailureStatus(parsed, "MX", domain);
  std::vector<MxRecord> records;
  for (ares_mx_reply* reply = replies; reply != nullptr; reply = reply->next) {
    records.push_back(MxRecord{.preference = reply->priority, .host = reply->host});
  }
  ares_free_data(replies);
  return records;
}

std::vector<IpAddress> CollectAddresses(const ares_addrinfo* result) {
  std::vector<IpAddress> addresses;
  for (const ares_addrinfo_node* node = result->nodes; node != nullptr; node = node->ai_next) {
    IpAddress address = IpAddress::FromSockaddr(node->ai_addr);
    bool seen = false;
    for (const IpAddress& known : addresses) seen = seen || known == address;
    if (!seen) addresses.push_back(address);
  }
  return addresses;
}

void InitAresOnce() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

}  // namespace

struct DnsResolver::Impl {
  // What c-ares wants to hear about one of its sockets, and our armed polls.
  struct SocketWatch {
    bool want_read = false;
    bool want_write = false;
    bool read_armed = false;
    bool write_armed = false;
    Reactor::PollId read_poll = 0;
    Reactor::PollId write_poll = 0;
    uint64_t read_token = 0;  // tells a live poll's completion from a stale one
    uint64_t write_token = 0;
  };
  // A finished query's callback; `cancelled` when the resolver is going away.
  using Completion = std::function<void(bool cancelled)>;

  struct MxQuery {
    Impl* impl;
    std::string domain;
    MxCallback done;
  };
  struct AddressQuery {
    Impl* impl;
    std::string host;
    AddressCallback done;
  };

  explicit Impl(Reactor& r) : reactor(r) {}
  ~Impl() { Shutdown(); }

  absl::Status Init(const std::string& server, const DnsResolverOptions& options);
  // Cancels everything; outstanding callbacks run (Cancelled) before it returns.
  void Shutdown();

  static void OnSocketState(void* data, ares_socket_t fd, int readable, int writable);
  static void OnMxAnswer(void* arg, int status, int timeouts, unsigned char* answer, int length);
  static void OnAddressAnswer(void* arg, int status, int timeouts, ares_addrinfo* result);

  // False (and done scheduled with an error) when no query may start now.
  bool Admit(const std::string& name, const std::function<void(absl::Status)>& fail);
  void Finish(Completion completion);
  void AfterStart();
  void AfterDrive(int fd);
  void SyncPolls(int fd);
  void SyncDirection(int fd, SocketWatch& watch, bool write);
  void OnPollResult(int fd, bool write, uint64_t token, int result);
  void UpdateTimer();
  void RunCompletions();
  void ScheduleCompletions();

  Reactor& reactor;
  ares_channel channel = nullptr;
  absl::flat_hash_map<int, SocketWatch> sockets;
  Reactor::TimerId timer = 0;
  bool timer_armed = false;
  uint64_t next_poll_token = 1;
  std::deque<Completion> completions;
  bool completions_posted = false;
  bool destroying = false;
  size_t queries_in_flight = 0;
  // Reactor callbacks (polls, timers, posts) hold a weak reference: they can
  // arrive after destruction (a cancelled poll still completes).
  std::shared_ptr<char> alive = std::make_shared<char>();
};

absl::Status DnsResolver::Impl::Init(const std::string& server, const DnsResolverOptions& options) {
  InitAresOnce();
  ares_options ares{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS |
             ARES_OPT_LOOKUPS;
  ares.sock_state_cb = &Impl::OnSocketState;
  ares.sock_state_cb_data = this;
  ares.timeout = options.timeout_ms;
  ares.tries = options.tries;
  // Mail hosts are fully qualified: no search domains, and DNS only (no
  // /etc/hosts), like Postfix's smtp_host_lookup=dns.
  ares.domains = nullptr;
  ares.ndomains = 0;
  char lookups[] = "b";
  ares.lookups = lookups;
  int status = ares_init_options(&channel, &ares, mask);
  if (status != ARES_SUCCESS) {
    channel = nullptr;
    return absl::InternalError(absl::StrCat("c-ares init: ", ares_strerror(status)));
  }
  if (server.empty()) return absl::OkStatus();
  absl::StatusOr<SocketAddress> address = SocketAddress::Parse(server, NS_DEFAULTPORT);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad DNS server \"", server, "\": ", address.status().message()));
  }
  status = ares_set_servers_ports_csv(channel, address->ToString().c_str());
  if (status != ARES_SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad DNS server \"", server, "\": ", ares_strerror(status)));
  }
  return absl::OkStatus();
}

void DnsResolver::Impl::Shutdown() {
  if (destroying) return;
  destroying = true;
  alive.reset();
  if (timer_armed) reactor.CancelTimer(timer);
  for (auto& [fd, watch] : sockets) {
    if (watch.read_armed) reactor.CancelPoll(watch.read_poll);
    if (watch.write_armed) reactor.CancelPoll(watch.write_poll);
  }
  sockets.clear();
  // Ends every outstanding query with ARES_EDESTRUCTION (-> Finish).
  if (channel != nullptr) ares_destroy(channel);
  channel = nullptr;
  while (!completions.empty()) {
    Completion completion = std::move(completions.front());
    completions.pop_front();
    completion(/*cancelled=*/true);
  }
}

void DnsResolver::Impl::OnSocketState(void* data, ares_socket_t fd, int readable, int writable) {
  auto* impl = static_cast<Impl*>(data);
  if (impl->destroying) return;
  SocketWatch& watch = impl->sockets[fd];
  watch.want_read = readable != 0;
  watch.want_write = writable != 0;
  impl->SyncPolls(fd);
}

void DnsResolver::Impl::OnMxAnswer(void* arg, int status, int /*timeouts*/, unsigned char* answer,
                                   int length) {
  std::unique_ptr<MxQuery> query(static_cast<MxQuery*>(arg));
  auto result = ParseMxAnswer(status, answer, length, query->domain);
  query->impl->Finish([done = std::move(query->done), domain = std::move(query->domain),
                       result = std::move(result)](bool cancelled) mutable {
    done(cancelled ? CancelledStatus(domain) : std::move(result));
  });
}

void DnsResolver::Impl::OnAddressAnswer(void* arg, int status, int /*timeouts*/,
                                        ares_addrinfo* answer) {
  std::unique_ptr<AddressQuery> query(static_cast<AddressQuery*>(arg));
  absl::StatusOr<std::vector<IpAddress>> result;
  if (status == ARES_SUCCESS && answer != nullptr) {
    result = CollectAddresses(answer);
    if (result->empty()) result = FailureStatus(ARES_ENODATA, "address", query->host);
  } else {
    result = FailureStatus(status == ARES_SUCCESS ? ARES_ENODATA : status, "address", query->host);
  }
  if (answer != nullptr) ares_freeaddrinfo(answer);
  query->impl->Finish([done = std::move(query->done), host = std::move(query->host),
                       result = std::move(result)](bool cancelled) mutable {
    done(cancelled ? CancelledStatus(host) : std::move(result));
  });
}

bool DnsResolver::Impl::Admit(const std::string& name,
                              const std::function<void(absl::Status)>& fail) {
  if (destroying) {
    completions.push_back([fail, name](bool) { fail(CancelledStatus(name)); });
    return false;
  }
  if (queries_in_flight >= kDnsQueriesInFlightMax) {
    completions.push_back([fail, name](bool cancelled) {
      fail(cancelled ? CancelledStatus(name)
                     : absl::UnavailableError(
                           absl::StrCat("DNS lookup of ", name, ": too many queries in flight")));
    });
    ScheduleCompletions();
    return false;
  }
  ++queries_in_flight;
  return true;
}

void DnsResolver::Impl::Finish(Completion completion) {
  --queries_in_flight;
  completions.push_back(std::move(completion));
}

// c-ares may answer at once (bad name, no servers): those callbacks still
// run later from the loop, never inside the caller's Lookup call.
void DnsResolver::Impl::AfterStart() {
  UpdateTimer();
  if (!completions.empty()) ScheduleCompletions();
}

void DnsResolver::Impl::AfterDrive(int fd) {
  if (fd >= 0) SyncPolls(fd);
  UpdateTimer();
  RunCompletions();
}

void DnsResolver::Impl::SyncPolls(int fd) {
  auto it = sockets.find(fd);
  if (it == sockets.end()) return;
  SyncDirection(fd, it->second, /*write=*/false);
  SyncDirection(fd, it->second, /*write=*/true);
  if (!it->second.want_read && !it->second.want_write) sockets.erase(it);
}

// Keeps exactly one poll armed per wanted direction, none otherwise.
void DnsResolver::Impl::SyncDirection(int fd, SocketWatch& watch, bool write) {
  bool want = write ? watch.want_write : watch.want_read;
  bool& armed = write ? watch.write_armed : watch.read_armed;
  Reactor::PollId& poll = write ? watch.write_poll : watch.read_poll;
  uint64_t& token = write ? watch.write_token : watch.read_token;
  if (want == armed) return;
  if (!want) {
    reactor.CancelPoll(poll);
    armed = false;
    token = 0;
    return;
  }
  token = next_poll_token++;
  armed = true;
  poll = reactor.PollOnce(
      fd, write ? POLLOUT : POLLIN,
      [weak = std::weak_ptr<char>(alive), this, fd, write, expected = token](int result) {
        if (weak.expired()) return;
        OnPollResult(fd, write, expected, result);
      });
}

void DnsResolver::Impl::OnPollResult(int fd, bool write, uint64_t token, int result) {
  auto it = sockets.find(fd);
  if (it == sockets.end()) return;
  SocketWatch& watch = it->second;
  bool& armed = write ? watch.write_armed : watch.read_armed;
  if (!armed || (write ? watch.write_token : watch.read_token) != token) return;  // stale
  armed = false;
  if (result == -ECANCELED) {
    AfterDrive(fd);
    return;
  }
  // An error result is handed to c-ares as readiness too: its read or write
  // then fails and it drops the socket, retrying the query elsewhere.
  ares_process_fd(channel, write ? ARES_SOCKET_BAD : fd, write ? fd : ARES_SOCKET_BAD);
  AfterDrive(fd);
}

void DnsResolver::Impl::UpdateTimer() {
  if (timer_armed) {
    reactor.CancelTimer(timer);
    timer_armed = false;
  }
  if (destroying) return;
  timeval wait{};
  if (ares_timeout(channel, nullptr, &wait) == nullptr) return;  // no queries
  absl::Duration delay = absl::Seconds(wait.tv_sec) + absl::Microseconds(wait.tv_usec);
  timer = reactor.RunAfter(delay, [weak = std::weak_ptr<char>(alive), this] {
    if (weak.expired()) return;
    timer_armed = false;
    ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // expire timed-out tries
    AfterDrive(-1);
  });
  timer_armed = true;
}

// Runs finished queries' callbacks outside c-ares, so a callback may start
// lookups or destroy the resolver.
void DnsResolver::Impl::RunCompletions() {
  std::weak_ptr<char> weak = alive;
  while (!completions.empty()) {
    Completion completion = std::move(completions.front());
    completions.pop_front();
    completion(/*cancelled=*/false);
    if (weak.expired()) return;  // the callback destroyed the resolver
  }
}

void DnsResolver::Impl::ScheduleCompletions() {
  if (completions_posted || destroying) return;
  completions_posted = true;
  reactor.Post([weak = std::weak_ptr<char>(alive), this] {
    if (weak.expired()) return;
    completions_posted = false;
    RunCompletions();
  });
}

absl::StatusOr<std::unique_ptr<DnsResolver>> DnsResolver::Create(
    reactor::Reactor& reactor, const std::string& server, const DnsResolverOptions& options) {
  auto impl = std::make_unique<Impl>(reactor);
  absl::Status status = impl->Init(server, options);
  if (!status.ok()) return status;
  return std::unique_ptr<DnsResolver>(new DnsResolver(std::move(impl)));
}

DnsResolver::DnsResolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
// Shut down while impl_ is intact: cancelled callbacks may call back in.
DnsResolver::~DnsResolver() { impl_->Shutdown(); }

reactor::Reactor& DnsResolver::reactor() { return impl_->reactor; }
size_t DnsResolver::queries_in_flight() const { return impl_->queries_in_flight; }

void DnsResolver::LookupMx(const std::string& domain, MxCallback done) {
  if (!impl_->Admit(domain, [done](absl::Status status) { done(std::move(status)); })) return;
  auto* query = new Impl::MxQuery{impl_.get(), domain, std::move(done)};
  ares_query(impl_->channel, domain.c_str(), ns_c_in, ns_t_mx, &Impl::OnMxAnswer, query);
  impl_->AfterStart();
}

void DnsResolver::LookupAddresses(const std::string& host, AddressCallback done) {
  if (!impl_->Admit(host, [done](absl::Status status) { done(std::move(status)); })) return;
  auto* query = new Impl::AddressQuery{impl_.get(), host, std::move(done)};
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  ares_getaddrinfo(impl_->channel, host.c_str(), nullptr, &hints, &Impl::OnAddressAnswer, query);
  impl_->AfterStart();
}

}  // namespace etrnd::delivery
