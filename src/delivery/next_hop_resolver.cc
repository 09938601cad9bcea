#include "etrnd/delivery/next_hop_resolver.h"

#include <memory>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "etrnd/delivery/mx_list.h"

namespace etrnd::delivery {
namespace {

using AddressAnswer = absl::StatusOr<std::vector<IpAddress>>;

std::mt19937_64& ThreadRng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

void AppendUnique(const std::vector<IpAddress>& ips, const std::string& host, uint16_t port,
                  std::vector<RouteTarget>* out) {
  for (const IpAddress& ip : ips) {
    bool seen = false;
    for (const RouteTarget& known : *out) seen = seen || known.address.ip() == ip;
    if (!seen) out->push_back(RouteTarget{SocketAddress(ip, port), host});
  }
}

// The hosts' addresses in host order. A host that does not exist is skipped;
// with no address left, a temporary failure of any host defers (it might
// have had one), otherwise the route is NotFound.
absl::StatusOr<std::vector<RouteTarget>> MergeAnswers(const std::string& domain,
                                                      const std::vector<std::string>& hosts,
                                                      const std::vector<AddressAnswer>& answers,
                                                      uint16_t port) {
  std::vector<RouteTarget> addresses;
  absl::Status temporary;
  for (size_t i = 0; i < answers.size(); ++i) {
    const AddressAnswer& answer = answers[i];
    if (answer.ok()) {
      AppendUnique(*answer, hosts[i], port, &addresses);
    } else if (absl::IsCancelled(answer.status())) {
      return answer.status();  // the resolver is going away: no partial answers
    } else if (!absl::IsNotFound(answer.status()) && temporary.ok()) {
      temporary = answer.status();
    }
  }
  if (!addresses.empty()) return addresses;
  if (!temporary.ok()) return temporary;
  if (answers.size() == 1) return answers[0].status();  // a single host: its own error
  return absl::NotFoundError(absl::StrCat("no mail host of ", domain, " has an address"));
}

// Looks all hosts up at once (at most delivery::kMxHostsMax) and answers
// when the last one is in.
void ResolveHosts(DnsResolver& resolver, const std::string& domain,
                  const std::vector<std::string>& hosts, uint16_t port, RouteTargetsCallback done) {
  struct Gather {
    std::string domain;
    std::vector<std::string> hosts;
    uint16_t port;
    std::vector<AddressAnswer> answers;
    size_t pending;
    RouteTargetsCallback done;
  };
  auto gather = std::make_shared<Gather>(Gather{
      domain, hosts, port, std::vector<AddressAnswer>(hosts.size(), absl::UnknownError("pending")),
      hosts.size(), std::move(done)});
  for (size_t i = 0; i < hosts.size(); ++i) {
    resolver.LookupAddresses(hosts[i], [gather, i](AddressAnswer answer) {
      gather->answers[i] = std::move(answer);
      if (--gather->pending > 0) return;
      gather->done(MergeAnswers(gather->domain, gather->hosts, gather->answers, gather->port));
    });
  }
}

void ResolveMx(DnsResolver& resolver, const std::string& domain, const RouteSpec& spec,
               RouteTargetsCallback done) {
  resolver.LookupMx(domain, [&resolver, domain, spec, done = std::move(done)](
                                absl::StatusOr<std::vector<MxRecord>> records) mutable {
    if (!records.ok()) {
      done(records.status());
      return;
    }
    delivery::MxPlan plan =
        delivery::PlanMxDelivery(domain, std::move(*records), spec.local_hostname, ThreadRng());
    switch (plan.kind) {
      case delivery::MxPlan::kNullMx:
        done(absl::FailedPreconditionError(std::string(delivery::kNullMxReply)));
        return;
      case delivery::MxPlan::kLocalIsBest:
        done(absl::UnavailableError(
            absl::StrCat("MX of ", domain, ": this host is the best MX (mail loops back)")));
        return;
      case delivery::MxPlan::kHosts:
        ResolveHosts(resolver, domain, plan.hosts, spec.port, std::move(done));
        return;
    }
  });
}

}  // namespace

void ResolveRoute(DnsResolver& resolver, const std::string& domain, const RouteSpec& spec,
                  RouteCallback done) {
  ResolveRouteTargets(resolver, domain, spec,
                      [done = std::move(done)](absl::StatusOr<std::vector<RouteTarget>> targets) {
                        if (!targets.ok()) return done(targets.status());
                        std::vector<SocketAddress> addresses;
                        addresses.reserve(targets->size());
                        for (const RouteTarget& target : *targets) {
                          addresses.push_back(target.address);
                        }
                        done(std::move(addresses));
                      });
}

void ResolveRouteTargets(DnsResolver& resolver, const std::string& domain, const RouteSpec& spec,
                         RouteTargetsCallback done) {
  switch (spec.kind) {
    case RouteSpec::kAddress: {
      absl::StatusOr<IpAddress> ip = IpAddress::Parse(spec.host);
      absl::StatusOr<std::vector<RouteTarget>> result =
          ip.ok() ? absl::StatusOr<std::vector<RouteTarget>>(
                        std::vector<RouteTarget>{{SocketAddress(*ip, spec.port), spec.host}})
                  : absl::InvalidArgumentError(
                        absl::StrCat("route of ", domain, ": bad address ", spec.host));
      resolver.reactor().Post(
          [done = std::move(done), result = std::move(result)]() mutable { done(result); });
      return;
    }
    case RouteSpec::kHost:
      ResolveHosts(resolver, domain, {spec.host}, spec.port, std::move(done));
      return;
    case RouteSpec::kMx:
      ResolveMx(resolver, domain, spec, std::move(done));
      return;
  }
}

}  // namespace etrnd::delivery
