#include "etrnd/peers/peer_backoff.h"

#include <algorithm>

namespace etrnd::peers {
namespace {

// 100 ms * 2^6 is over 5 s: more doublings change nothing.
constexpr int kDoublingsMax = 6;

}  // namespace

absl::Duration PeerBackoff::NextDelay() {
  const int doublings = std::min(failures_, kDoublingsMax);
  ++failures_;
  return std::min(kPeerBackoffInitial * (1 << doublings), kPeerBackoffMax);
}

}  // namespace etrnd::peers
