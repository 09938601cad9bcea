// Everything etrnd is tuned with, read from the command line once at start-up
// (server_flags.cc) so that the rest of the server never reads flags.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etrnd/common/net_address.h"
#include "etrnd/peers/peer_options.h"
#include "etrnd/reactor/background_pacing.h"
#include "etrnd/smtp/server_session.h"

namespace etrnd::server {

// TLS (tls_options.cc reads the flags; tls_contexts.h loads the files).
struct TlsOptions {
  std::string cert_file;  // "" = no STARTTLS offered
  std::string key_file;
  std::string ciphers;  // TLS 1.2 cipher list, OpenSSL syntax; "" = default
  std::string ca_file;  // CAs for tls=verify next hops; "" = system store
};

struct ServerOptions {
  std::vector<SocketAddress> listen;
  // Extra listeners whose connections start with a PROXY protocol header,
  // and the networks (the load balancers) allowed to send one.
  std::vector<SocketAddress> proxy_protocol_listen;
  std::vector<CidrNetwork> proxy_protocol_from;
  std::string hostname;
  std::string postmaster;  // RCPT TO:<postmaster> goes here
  int threads = 1;
  std::string spool_dir;
  std::string domains_file;
  std::string auth_file;  // SMTP AUTH password file; "" = no AUTH
  bool fsync = true;
  smtp::SessionLimits session_limits;
  size_t max_connections = 20000;
  size_t max_connections_per_ip = 100;
  absl::Duration idle_timeout = absl::Seconds(300);
  absl::Duration log_turns_over = absl::ZeroDuration();  // 0 = off
  uint64_t segment_bytes_max = 64ull << 20;
  // Compaction while running (segment_compactor.h); 0 = off.
  uint32_t compaction_live_percent = 25;
  absl::Duration shutdown_grace = absl::Seconds(8);
  // ETRN: per-client token bucket.
  double etrn_rate_per_second = 2;
  int etrn_burst = 10;
  // Delivery.
  absl::Duration retry_initial = absl::Minutes(5);
  absl::Duration retry_max = absl::Hours(4);
  absl::Duration max_queue_lifetime = absl::Hours(24 * 5);
  absl::Duration delivery_timeout = absl::Seconds(60);
  size_t connections_per_destination = 4;
  size_t messages_per_connection = 100;
  // Percent of a core deliveries may take while clients are active.
  int delivery_cpu_share_while_busy = reactor::BackgroundPacing::kDefaultBusySharePercent;
  std::string dns_server;  // "" = /etc/resolv.conf
  uint16_t mx_port = 25;   // SMTP port of MX hosts (tests point it elsewhere)
  // etrnctl's Unix socket (default <spool_dir>/control.sock).
  std::string control_socket;
  std::optional<SocketAddress> metrics_listen;  // Prometheus /metrics; none = off
  std::optional<SocketAddress> odmr_listen;     // ODMR (RFC 2645, port 366); none = off
  TlsOptions tls;
  peers::PeerOptions peers;  // --peers, --peer_from, ... (peer_flags.cc)
  // Privileges: "" = keep running as the starting user.
  std::string user;
};

// Validates the flags; the error is the one-line reason printed at exit.
absl::StatusOr<ServerOptions> OptionsFromFlags();
// The --tls_* flags into options.tls (tls_options.cc).
absl::Status TlsOptionsFromFlags(ServerOptions& options);
// The --peer* flags into options.peers (peer_flags.cc).
absl::Status PeerOptionsFromFlags(ServerOptions& options);

}  // namespace etrnd::server
