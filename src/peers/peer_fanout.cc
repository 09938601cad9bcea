#include "etrnd/peers/peer_fanout.h"

#include <algorithm>
#include <utility>

#include "etrnd/common/check.h"
#include "etrnd/peers/peer_count.h"

namespace etrnd::peers {

struct PeerFanout::Wait {
  size_t awaited = 0;  // peers whose count may still come in time
  size_t peer_messages = 0;
  bool finished = false;
  reactor::Reactor::TimerId timer = 0;
  std::function<void(size_t)> done;
};

PeerFanout::PeerFanout(reactor::Reactor& reactor, const PeerOptions& options,
                       std::string helo_hostname, TlsClient tls_client)
    : reactor_(reactor) {
  ETRND_CHECK(options.peers.size() == options.peer_names.size());
  for (size_t i = 0; i < options.peers.size(); ++i) {
    PeerLinkConfig config;
    config.address = options.peers[i];
    config.name = options.peer_names[i];
    config.session.helo_hostname = helo_hostname;
    config.session.quit_when_idle = false;
    config.session.max_messages_per_connection = 0;  // ETRN only, never mail
    if (!options.auth_user.empty()) {
      config.session.tls = smtp::TlsMode::kOpportunistic;
      config.session.auth_user = options.auth_user;
      config.session.auth_password = options.auth_password;
    }
    config.tls_client = tls_client;
    links_.push_back(std::make_unique<PeerLink>(reactor_, std::move(config)));
  }
}

void PeerFanout::Start() {
  for (auto& link : links_) link->Start();
}

void PeerFanout::Stop() {
  for (auto& link : links_) link->Stop();
}

void PeerFanout::Forward(std::string_view as_sent, absl::Duration timeout,
                         std::function<void(size_t)> done) {
  auto wait = std::make_shared<Wait>();
  wait->done = std::move(done);
  for (auto& link : links_) {
    PeerLink::Sent sent = link->SendEtrn(as_sent, [this, wait](size_t messages) {
      if (wait->finished) {
        ++counters_.late;  // the flush runs anyway
        return;
      }
      ++counters_.in_time;
      wait->peer_messages = std::min(wait->peer_messages + messages, kPeerCountMax);
      ETRND_CHECK(wait->awaited > 0);
      if (--wait->awaited == 0) Finish(wait);
    });
    switch (sent) {
      case PeerLink::Sent::kAwaited:
        ++wait->awaited;
        break;
      case PeerLink::Sent::kQueued:
        ++counters_.connecting;
        break;
      case PeerLink::Sent::kDown:
        ++counters_.down;
        break;
      case PeerLink::Sent::kDropped:
        ++counters_.dropped;
        break;
    }
  }
  if (wait->awaited == 0) {
    Finish(wait);
    return;
  }
  wait->timer = reactor_.RunAfter(timeout, [this, wait] {
    wait->timer = 0;
    Finish(wait);
  });
}

void PeerFanout::Finish(const std::shared_ptr<Wait>& wait) {
  if (wait->finished) return;
  wait->finished = true;
  if (wait->timer != 0) reactor_.CancelTimer(wait->timer);
  wait->timer = 0;
  std::function<void(size_t)> done = std::move(wait->done);
  done(wait->peer_messages);
}

}  // namespace etrnd::peers
