// Which hosts to try, in order, for a domain delivered via `mx` (RFC 5321
// 5.1, RFC 7505). Pure: the DNS answer and the random generator come in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace etrnd::delivery {

inline constexpr size_t kMxHostsMax = 10;  // hosts tried per delivery attempt

// What the next hop says when a domain publishes a null MX, for the bounce.
inline constexpr int kNullMxCode = 556;
inline constexpr std::string_view kNullMxReply = "556 5.1.10 Recipient address has null MX";

struct MxRecord {
  uint16_t preference = 0;
  std::string host;
};

struct MxPlan {
  enum Kind {
    kHosts,   // try `hosts` in order (each resolved to its address records)
    kNullMx,  // RFC 7505: the domain accepts no mail: bounce (kNullMxReply)
    // We are the best MX left (RFC 5321 5.1: records at or above our own
    // preference are dropped) and nothing is better: a configuration error
    // on the domain's side; the caller defers and logs it.
    kLocalIsBest,
  };
  Kind kind = kHosts;
  std::vector<std::string> hosts;  // lower case, without a trailing dot
};

// `records` is the MX answer for `domain` (empty: no MX records, so the
// domain itself is the only host, its address records serving as an
// implicit MX). Hosts are ordered by preference, equal preferences shuffled
// with `rng`, duplicates dropped, at most kMxHostsMax. When
// `local_hostname` (may be empty) is among them, it and every host of equal
// or worse preference are dropped, so a backup MX never delivers to itself
// or to another backup.
MxPlan PlanMxDelivery(std::string_view domain, std::vector<MxRecord> records,
                      std::string_view local_hostname, std::mt19937_64& rng);

}  // namespace etrnd::delivery
