// One core's ETRN fan-out: a PeerLink to every --peers node, and the
// bounded wait for their counts. The flush at a peer is fire-and-forget;
// only the count in the client's reply waits, at most --peer_timeout, and
// only for peers whose link is up (a peer that is down or still connecting
// adds no wait at all).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "etrnd/peers/peer_link.h"
#include "etrnd/peers/peer_options.h"
#include "etrnd/reactor/reactor.h"

namespace etrnd::peers {

// What became of the ETRNs this core sent to peers (one per peer and ETRN).
struct FanoutCounters {
  uint64_t in_time = 0;     // answered (or failed) before the reply was sent
  uint64_t late = 0;        // answered after --peer_timeout: flushed, not counted
  uint64_t connecting = 0;  // queued on a link still connecting: not waited for
  uint64_t down = 0;        // not sent: the peer is down (in backoff)
  uint64_t dropped = 0;     // not sent: kPeerEtrnsInFlightMax already waiting
};

class PeerFanout {
 public:
  using TlsClient = std::function<std::shared_ptr<const transport::TlsContext>()>;
  PeerFanout(reactor::Reactor& reactor, const PeerOptions& options, std::string helo_hostname,
             TlsClient tls_client);

  bool empty() const { return links_.empty(); }
  void Start();
  void Stop();

  // Sends "ETRN <as_sent>" to every peer. `done` runs once on this thread
  // with the sum of the 253 counts that came in time: when every awaited
  // peer answered, at `timeout`, or at once (inside this call) when no peer
  // is up.
  void Forward(std::string_view as_sent, absl::Duration timeout,
               std::function<void(size_t peer_messages)> done);

  const FanoutCounters& counters() const { return counters_; }

 private:
  struct Wait;
  void Finish(const std::shared_ptr<Wait>& wait);

  reactor::Reactor& reactor_;
  std::vector<std::unique_ptr<PeerLink>> links_;
  FanoutCounters counters_;
};

}  // namespace etrnd::peers
