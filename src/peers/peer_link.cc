#include "etrnd/peers/peer_link.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/common/strings.h"
#include "etrnd/peers/peer_connection.h"
#include "etrnd/peers/peer_count.h"

namespace etrnd::peers {

PeerLink::PeerLink(reactor::Reactor& reactor, PeerLinkConfig config)
    : reactor_(reactor), config_(std::move(config)) {}

PeerLink::~PeerLink() {
  // The reactor (and its timers) may already be gone: only detach.
  if (connection_ != nullptr) connection_->Detach();
}

void PeerLink::Start() {
  Connect();
  keepalive_timer_ = reactor_.RunAfter(kPeerKeepaliveInterval, [this] { Keepalive(); });
}

void PeerLink::Keepalive() {
  keepalive_timer_ = 0;
  if (state_ == State::kStopped) return;
  const absl::Time now = absl::Now();
  if (state_ == State::kUp && connection_ != nullptr && connection_->ready() && !in_flight_ &&
      waiting_.empty() && now - last_command_ >= kPeerKeepaliveInterval) {
    in_flight_ = true;  // its reply goes to nobody
    last_command_ = now;
    if (!connection_->StartCommand("NOOP")) in_flight_ = false;
  }
  keepalive_timer_ = reactor_.RunAfter(kPeerKeepaliveInterval, [this] { Keepalive(); });
}

void PeerLink::Stop() {
  state_ = State::kStopped;
  if (retry_timer_ != 0) reactor_.CancelTimer(retry_timer_);
  retry_timer_ = 0;
  if (keepalive_timer_ != 0) reactor_.CancelTimer(keepalive_timer_);
  keepalive_timer_ = 0;
  AnswerWaitingWithZero();
  waiting_.clear();
  if (connection_ != nullptr) connection_->Abort();
}

void PeerLink::Connect() {
  ETRND_CHECK(connection_ == nullptr);
  state_ = State::kConnecting;
  std::shared_ptr<const transport::TlsContext> tls;
  smtp::ClientSession::Options options = config_.session;
  if (options.tls != smtp::TlsMode::kNever && config_.tls_client) tls = config_.tls_client();
  if (tls == nullptr) options.tls = smtp::TlsMode::kNever;
  // SNI and certificate names take the host without its port.
  std::string host = config_.name.substr(0, config_.name.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto connection = std::make_unique<PeerConnection>(reactor_, this, std::move(options),
                                                     std::move(tls), std::move(host));
  connection_ = connection.get();
  reactor_.Connect(config_.address, std::move(connection), kPeerConnectTimeout);
}

void PeerLink::RetryAfter(absl::Duration delay) {
  ETRND_CHECK(retry_timer_ == 0);
  retry_timer_ = reactor_.RunAfter(delay, [this] {
    retry_timer_ = 0;
    if (state_ != State::kStopped) Connect();
  });
}

PeerLink::Sent PeerLink::SendEtrn(std::string_view as_sent, Counted counted) {
  switch (state_) {
    case State::kStopped:
    case State::kDown:
      return Sent::kDown;
    case State::kConnecting:
    case State::kUp:
      break;
  }
  if (waiting_.size() + (in_flight_ ? 1 : 0) >= kPeerEtrnsInFlightMax) {
    ++dropped_;
    ETRND_LOG_WARNING_REPEATED("peer ETRN dropped", config_.name,
                               "peer %s: ETRN %s dropped: %d ETRNs already waiting for it (%d "
                               "dropped so far)",
                               config_.name, as_sent, kPeerEtrnsInFlightMax, dropped_);
    return Sent::kDropped;
  }
  const bool awaited = state_ == State::kUp;
  waiting_.push_back(
      Waiting{absl::StrCat("ETRN ", AsAbsl(as_sent)), awaited ? std::move(counted) : Counted()});
  // Sent at the loop's end, never from inside: the caller is still
  // counting the peers it waits for.
  if (awaited) reactor_.Post([this] { SendNext(); });
  return awaited ? Sent::kAwaited : Sent::kQueued;
}

void PeerLink::SendNext() {
  while (state_ == State::kUp && connection_ != nullptr && !in_flight_ && !waiting_.empty() &&
         connection_->ready()) {
    Waiting next = std::move(waiting_.front());
    waiting_.pop_front();
    in_flight_ = true;
    in_flight_counted_ = std::move(next.counted);
    last_command_ = absl::Now();
    if (!connection_->StartCommand(next.line)) {
      // Not a line the session will send: nobody gets a count from it.
      in_flight_ = false;
      if (Counted counted = std::exchange(in_flight_counted_, {}); counted) counted(0);
    }
  }
}

void PeerLink::OnReady() {
  if (state_ == State::kConnecting) {
    state_ = State::kUp;
    backoff_.Reset();
    // Logged once per change: the first connection, and each return (not
    // the quiet reconnect after an idle close).
    if (!logged_up_ || logged_down_) {
      ETRND_LOG_INFO_EVENT("peer", {{"peer", config_.name}, {"state", "up"}}, "peer %s: up%s",
                           config_.name, logged_down_ ? " again" : "");
    }
    logged_up_ = true;
    logged_down_ = false;
  }
  SendNext();
}

void PeerLink::OnReply(const smtp::SmtpReply& reply) {
  if (state_ == State::kStopped) return;  // Stop() already answered everyone
  ETRND_CHECK(in_flight_);
  in_flight_ = false;
  ETRND_LOG_DEBUG("peer %s: %s", config_.name, reply.Text());
  if (Counted counted = std::exchange(in_flight_counted_, {}); counted) {
    counted(PeerReplyCount(reply));
  }
}

void PeerLink::AnswerWaitingWithZero() {
  if (in_flight_) {
    in_flight_ = false;
    if (Counted counted = std::exchange(in_flight_counted_, {}); counted) counted(0);
  }
  for (Waiting& waiting : waiting_) {
    if (Counted counted = std::exchange(waiting.counted, {}); counted) counted(0);
  }
}

void PeerLink::OnClosed(PeerConnection* connection, bool was_ready, const std::string& why) {
  ETRND_CHECK(connection == connection_);
  connection_ = nullptr;
  // Whoever waits for a count stops waiting now; unsent lines stay for the
  // next connection (the flush is what matters), bounded as before.
  AnswerWaitingWithZero();
  if (state_ == State::kStopped) return;
  if (was_ready) {
    // An idle close (the peer's --idle_timeout) or a restart: connect again
    // soon, queueing ETRNs meanwhile; a failure then marks it down.
    state_ = State::kConnecting;
    ETRND_LOG_DEBUG("peer %s: connection ended (%s); reconnecting", config_.name, why);
    RetryAfter(kPeerBackoffInitial);
    return;
  }
  state_ = State::kDown;
  waiting_.clear();  // later ETRNs reach it once it is back
  const absl::Duration delay = backoff_.NextDelay();
  if (!logged_down_) {
    logged_down_ = true;
    ETRND_LOG_WARNING_EVENT("peer", {{"peer", config_.name}, {"state", "down"}, {"why", why}},
                            "peer %s: down (%s); retrying with backoff up to %s", config_.name, why,
                            absl::FormatDuration(kPeerBackoffMax));
  }
  RetryAfter(delay);
}

void PeerLink::Forget(PeerConnection* connection) {
  if (connection_ == connection) connection_ = nullptr;
}

}  // namespace etrnd::peers
