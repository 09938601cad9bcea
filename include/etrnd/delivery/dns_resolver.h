// Asynchronous DNS (MX and address records) for outbound delivery: c-ares
// driven by the reactor's io_uring polls and timers, so a reactor thread
// never blocks in a resolver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etrnd/common/net_address.h"
#include "etrnd/delivery/mx_list.h"
#include "etrnd/reactor/reactor.h"

namespace etrnd::delivery {

struct DnsResolverOptions {
  int timeout_ms = 3000;  // first try per server; c-ares backs off on later tries
  int tries = 3;          // attempts per server before Unavailable
};

// Queries outstanding at once per resolver; more fail with Unavailable.
inline constexpr size_t kDnsQueriesInFlightMax = 4096;

// One per reactor thread; every method and callback runs on that thread.
// Destroy it before the reactor.
class DnsResolver {
 public:
  // server: "" = the system's resolv.conf; else "ip", "ip:port" or
  // "[v6]:port" (the --dns_server flag).
  static absl::StatusOr<std::unique_ptr<DnsResolver>> Create(
      reactor::Reactor& reactor, const std::string& server,
      const DnsResolverOptions& options = DnsResolverOptions{});
  // Outstanding queries get Cancelled from inside the destructor (lookups
  // their callbacks start then are Cancelled too); none run afterwards.
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  using MxCallback = std::function<void(absl::StatusOr<std::vector<MxRecord>>)>;
  using AddressCallback = std::function<void(absl::StatusOr<std::vector<IpAddress>>)>;

  // MX records of domain as published (unordered). NotFound for NXDOMAIN;
  // empty when the domain exists without MX (the caller falls back to its
  // address records, RFC 5321 5.1); Unavailable for timeouts and SERVFAIL
  // (the caller defers). done never runs before this returns.
  void LookupMx(const std::string& domain, MxCallback done);
  // IPv4 and IPv6 addresses of host (A and AAAA). NotFound when the name
  // does not exist or has no address; Unavailable as above.
  void LookupAddresses(const std::string& host, AddressCallback done);

  reactor::Reactor& reactor();
  size_t queries_in_flight() const;

  struct Impl;  // c-ares channel and its reactor plumbing (dns_resolver.cc)

 private:
  explicit DnsResolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace etrnd::delivery
