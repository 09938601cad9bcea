// One core's link to one peer: a persistent PeerConnection, the ETRNs
// waiting for it (bounded: kPeerEtrnsInFlightMax, over it an ETRN to this
// peer is dropped and counted), and reconnection with PeerBackoff when the
// peer is down. The state changes (down, up) are logged once each.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "etrnd/common/net_address.h"
#include "etrnd/peers/peer_backoff.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/smtp/client_session.h"
#include "etrnd/transport/tls_context.h"

namespace etrnd::peers {

class PeerConnection;

// ETRNs sent to one peer from one core and not yet answered, plus those
// waiting for the connection: a peer that stops reading costs no more.
inline constexpr size_t kPeerEtrnsInFlightMax = 32;
// A peer that drops SYNs is declared down after this long.
inline constexpr absl::Duration kPeerConnectTimeout = absl::Seconds(1);
// An idle link sends NOOP this often, well inside the peer's --idle_timeout
// (300 s by default): the link stays up, so an ETRN never meets it
// reconnecting (when its count would not be waited for).
inline constexpr absl::Duration kPeerKeepaliveInterval = absl::Seconds(60);

struct PeerLinkConfig {
  SocketAddress address;
  std::string name;  // as in --peers, for log lines and SNI
  smtp::ClientSession::Options session;
  // The client TLS context at connect time (re-read on SIGHUP); null or a
  // session with tls = kNever: no STARTTLS.
  std::function<std::shared_ptr<const transport::TlsContext>()> tls_client;
};

class PeerLink {
 public:
  enum class Sent {
    kAwaited,  // the link is up: `counted` will run (with 0 if the link fails)
    kQueued,   // connecting: sent once connected; `counted` will not run
    kDown,     // in backoff: not sent (later ETRNs reach it once it is back)
    kDropped,  // over kPeerEtrnsInFlightMax: not sent, counted
  };
  using Counted = std::function<void(size_t messages)>;

  PeerLink(reactor::Reactor& reactor, PeerLinkConfig config);
  ~PeerLink();
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  void Start();  // connects
  void Stop();   // shutdown: closes, never reconnects

  // "ETRN <as_sent>"; `counted` gets the peer's 253 count (0 for any other
  // reply or a lost connection) on this thread, never from inside this call.
  Sent SendEtrn(std::string_view as_sent, Counted counted);

  bool up() const { return state_ == State::kUp; }
  uint64_t dropped() const { return dropped_; }
  const std::string& name() const { return config_.name; }

  // From PeerConnection only.
  void OnReady();
  void OnReply(const smtp::SmtpReply& reply);
  void OnClosed(PeerConnection* connection, bool was_ready, const std::string& why);
  void Forget(PeerConnection* connection);

 private:
  enum class State { kConnecting, kUp, kDown, kStopped };
  struct Waiting {
    std::string line;
    Counted counted;  // empty when nobody waits for the count
  };

  void Connect();
  void RetryAfter(absl::Duration delay);
  void SendNext();
  void AnswerWaitingWithZero();
  void Keepalive();

  reactor::Reactor& reactor_;
  const PeerLinkConfig config_;
  State state_ = State::kConnecting;
  PeerConnection* connection_ = nullptr;  // owned by the reactor
  PeerBackoff backoff_;
  reactor::Reactor::TimerId retry_timer_ = 0;
  reactor::Reactor::TimerId keepalive_timer_ = 0;
  absl::Time last_command_ = absl::InfinitePast();
  std::deque<Waiting> waiting_;  // not yet sent
  bool in_flight_ = false;       // one command sent, its reply not read
  Counted in_flight_counted_;
  bool logged_up_ = false;    // "up" was logged once
  bool logged_down_ = false;  // the last state line logged said "down"
  uint64_t dropped_ = 0;
};

}  // namespace etrnd::peers
