// ETRN fan-out to other etrnd nodes (SPEC 3 and 6, "Several nodes"). This
// folder owns the per-core links to the peers, the wait for their counts and
// the pure rules that combine them; it never decides what an ETRN may flush
// (etrn/ does) and never touches the queue. These are its settings, read
// once from the flags (server/peer_options.cc).
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "etrnd/common/net_address.h"

namespace etrnd::peers {

struct PeerOptions {
  // The other nodes (--peers), resolved at start-up.
  std::vector<SocketAddress> peers;
  // --peers as written, for log lines ("10.0.0.2:25"), same order as peers.
  std::vector<std::string> peer_names;
  // Whose ETRN is a forwarded one (--peer_from), and which AUTH users
  // (--peer_users) are peers: trusted, flushed locally, never forwarded.
  std::vector<CidrNetwork> peer_from;
  std::vector<std::string> peer_users;
  // How long a client's ETRN reply waits for the peers' counts.
  absl::Duration timeout = absl::Milliseconds(50);
  // --peer_auth: AUTH PLAIN on the links (after STARTTLS when offered);
  // empty user = no AUTH.
  std::string auth_user;
  std::string auth_password;
};

// True when an ETRN from this client (address, SMTP AUTH user or "") is one
// a peer forwarded.
bool IsPeerClient(const PeerOptions& options, const IpAddress& client, std::string_view auth_user);

}  // namespace etrnd::peers
