// The --peer* flags (SPEC 3 and 6, "Several nodes"). Read once at start-up
// on the main thread (host names and --peer_auth are resolved and read
// here, blocking, before any reactor runs).
#include <netdb.h>
#include <sys/socket.h>

#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "etrnd/server/flag_list.h"
#include "etrnd/server/server_options.h"

ABSL_FLAG(std::string, peers, "",
          "Comma-separated host:port of the other etrnd nodes that serve the same domains: an "
          "ETRN accepted here is also sent to each of them (SPEC 6, 'Several nodes').");
ABSL_FLAG(std::string, peer_from, "",
          "Comma-separated CIDRs of the other nodes: an ETRN from there is a forwarded one, "
          "trusted (no etrn= list, no rate limit), flushed here and never forwarded again.");
ABSL_FLAG(absl::Duration, peer_timeout, absl::Milliseconds(50),
          "How long a client's ETRN reply waits for the peers' counts (a peer that is down "
          "adds no wait).");
ABSL_FLAG(std::string, peer_auth, "",
          "File holding one 'user:password' line: the links to --peers use STARTTLS when "
          "offered and AUTH PLAIN with it. Empty = no AUTH on the links.");
ABSL_FLAG(std::string, peer_users, "",
          "Comma-separated SMTP AUTH users that are peers: an ETRN from a session "
          "authenticated as one of them is treated like one from --peer_from.");

namespace etrnd::server {
namespace {

// A peer's host:port: an IP literal, or a name looked up once now.
absl::StatusOr<SocketAddress> ResolvePeer(const std::string& text) {
  auto literal = SocketAddress::Parse(text);
  if (literal.ok()) return *literal;
  const size_t colon = text.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(text.substr(colon + 1), &port) || port <= 0 ||
      port > 65535) {
    return absl::InvalidArgumentError("--peers: '" + text + "' is not host:port");
  }
  const std::string host = text.substr(0, colon);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
    return absl::InvalidArgumentError("--peers: cannot resolve '" + host + "'");
  }
  const IpAddress ip = SocketAddress::FromSockaddr(found->ai_addr).ip();
  freeaddrinfo(found);
  return SocketAddress(ip, static_cast<uint16_t>(port));
}

absl::Status ReadPeerAuth(const std::string& path, peers::PeerOptions& peers) {
  std::ifstream file(path);
  std::string line;
  if (!file || !std::getline(file, line)) {
    return absl::InvalidArgumentError("--peer_auth: cannot read " + path);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == line.size()) {
    return absl::InvalidArgumentError("--peer_auth: " + path + ": expected one user:password line");
  }
  peers.auth_user = line.substr(0, colon);
  peers.auth_password = line.substr(colon + 1);
  return absl::OkStatus();
}

}  // namespace

absl::Status PeerOptionsFromFlags(ServerOptions& options) {
  peers::PeerOptions& peers = options.peers;
  for (const std::string& text : SplitFlagList(absl::GetFlag(FLAGS_peers))) {
    auto address = ResolvePeer(text);
    if (!address.ok()) return address.status();
    for (const SocketAddress& own : options.listen) {
      // An ETRN sent to ourselves would come back as a new one.
      if (own.ip() == address->ip() && own.port() == address->port()) {
        return absl::InvalidArgumentError("--peers: " + text + " is this node's --listen");
      }
    }
    peers.peers.push_back(*address);
    peers.peer_names.push_back(text);
  }
  auto from = ParseFlagList("peer_from", absl::GetFlag(FLAGS_peer_from), CidrNetwork::Parse);
  if (!from.ok()) return from.status();
  peers.peer_from = std::move(*from);
  peers.peer_users = SplitFlagList(absl::GetFlag(FLAGS_peer_users));
  if (!peers.peers.empty() && peers.peer_from.empty() && peers.peer_users.empty()) {
    // The other nodes would take our forwarded ETRN for a customer's and
    // forward it back.
    return absl::InvalidArgumentError(
        "--peers needs --peer_from (the other nodes' addresses) or --peer_users");
  }
  peers.timeout = absl::GetFlag(FLAGS_peer_timeout);
  if (peers.timeout < absl::ZeroDuration() || peers.timeout > absl::Seconds(10)) {
    return absl::InvalidArgumentError("--peer_timeout must be between 0 and 10s");
  }
  if (const std::string path = absl::GetFlag(FLAGS_peer_auth); !path.empty()) {
    if (absl::Status status = ReadPeerAuth(path, peers); !status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace etrnd::server
