// The count in a client's ETRN reply when peers take part (SPEC 6): this
// node's messages plus the counts of the peers that answered 253 in time;
// 251, 458, 459 or no answer add nothing. Pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "etrnd/smtp/reply_reader.h"

namespace etrnd::peers {

// A peer's claimed count is capped here: one node never holds more, and a
// sum of a few of them cannot overflow.
inline constexpr size_t kPeerCountMax = size_t{1} << 40;

// The n of "253 2.0.0 OK, <n> pending messages for node <x> started" (the
// enhanced code optional); 0 for any other reply or a malformed 253.
size_t PeerReplyCount(const smtp::SmtpReply& reply);

// What this node found (the local cores' gather) and what the peers said.
struct CombinedCount {
  size_t local_messages = 0;
  bool local_refused_for_resources = false;  // held, or too many flushes
  size_t peer_messages = 0;                  // sum of PeerReplyCount in time
};

// The reply line (no CRLF): 253 with the total when it is above 0; else 458
// when this node refused for resources; else 251.
std::string CombinedReply(const CombinedCount& count, std::string_view as_sent);

}  // namespace etrnd::peers
