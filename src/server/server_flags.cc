// The command-line flags of etrnd (SPEC section 3). Names are part of the
// contract; each has a default an operator can start with.
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "etrnd/common/log.h"
#include "etrnd/common/log_rate_bound.h"
#include "etrnd/server/flag_list.h"
#include "etrnd/server/server_options.h"
#include "etrnd/smtp/address.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:2525",
          "Comma-separated host:port or [v6]:port addresses to accept SMTP on.");
ABSL_FLAG(std::string, proxy_protocol_listen, "",
          "Comma-separated host:port or [v6]:port addresses (not also in --listen) whose "
          "connections start with a HAProxy PROXY v1/v2 header giving the client's address.");
ABSL_FLAG(std::string, proxy_protocol_from, "",
          "Comma-separated CIDRs allowed to connect to --proxy_protocol_listen (the load "
          "balancers); others, and malformed headers, are closed without a greeting.");
ABSL_FLAG(std::string, hostname, "",
          "Name used in the greeting, EHLO reply and Received: header (default: system host "
          "name).");
ABSL_FLAG(std::string, postmaster, "",
          "Where mail to RCPT TO:<postmaster> (and postmaster@--hostname) goes; delivered like "
          "a bounce, so its domain need not be in the domains table (default: "
          "postmaster@<hostname>).");
ABSL_FLAG(int, threads, 0, "Reactor threads, one io_uring each (0 = online CPUs).");
ABSL_FLAG(std::string, spool_dir, "./spool", "Durable queue location (created if missing).");
ABSL_FLAG(std::string, domains_file, "",
          "Customer domains table. Default: docs/examples/domains.conf when it exists.");
ABSL_FLAG(std::string, auth_file, "",
          "SMTP AUTH users: 'user:HASH' lines, HASH a crypt(3) string ($y$ yescrypt, $6$ "
          "sha512-crypt) for PLAIN/LOGIN or Dovecot's {CRAM-MD5} form; re-read on SIGHUP. "
          "AUTH is offered only under TLS or to loopback clients. Empty = no AUTH.");
ABSL_FLAG(bool, fsync, true,
          "Reply 250 to DATA only once the message is on stable storage (group commit).");
ABSL_FLAG(int64_t, max_message_size, 10485760,
          "Largest message in bytes; advertised in EHLO SIZE; larger gets 552.");
ABSL_FLAG(int64_t, max_recipients, 1000, "Recipients per message; more get 452.");
ABSL_FLAG(int64_t, max_connections, 20000,
          "Concurrent inbound sessions; the next one gets 421 and is closed.");
ABSL_FLAG(int64_t, max_connections_per_ip, 100,
          "Concurrent inbound sessions from one address; the next one gets 421.");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Seconds(300),
          "An inbound session without a command for this long gets 421 and is closed.");
ABSL_FLAG(int64_t, max_output_bytes, 256 * 1024,
          "Unsent reply bytes per session; over it the session is not read until they drain, "
          "and a session whose replies do not drain within --idle_timeout is closed.");
ABSL_FLAG(int64_t, min_data_rate, 500,
          "Bytes/s a DATA transfer must average, measured over the whole message after a grace "
          "period (--idle_timeout, at most 30 s); slower -> 421 and close (0 = no minimum).");
ABSL_FLAG(int64_t, max_errors, 20, "Protocol errors per session before 421 and close.");
ABSL_FLAG(absl::Duration, retry_initial, absl::Minutes(5),
          "First retry delay for deferred deliveries (doubles up to --retry_max).");
ABSL_FLAG(absl::Duration, retry_max, absl::Hours(4), "Longest retry delay.");
ABSL_FLAG(absl::Duration, max_queue_lifetime, absl::Hours(120),
          "Older messages bounce to their sender (held mail too).");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");
ABSL_FLAG(std::string, log_format, "text",
          "text or json: one event per line on stderr (json: one object per line, with "
          "ts, level, thread, msg and the event's fields, e.g. event, id, to, relay, status).");
ABSL_FLAG(int64_t, log_rate_max, etrnd::kLogLinesPerSecondMaxDefault,
          "Log lines per second, all threads together (a burst of one second's worth "
          "passes); lines over it are dropped and counted in a periodic 'N log lines "
          "suppressed' line. 0 = unbounded.");
ABSL_FLAG(int64_t, segment_bytes_max, 64ll << 20, "Spool segment files roll at this size (bytes).");
ABSL_FLAG(int64_t, compaction_live_percent, 25,
          "A sealed segment whose live mail is under this percent of it is compacted while "
          "the server runs (its live messages move to the current segment). 0 = never.");
ABSL_FLAG(double, etrn_rate, 2.0, "ETRN commands per second allowed per client address.");
ABSL_FLAG(int, etrn_burst, 10, "ETRN commands a client may send in a burst.");
ABSL_FLAG(absl::Duration, delivery_timeout, absl::Seconds(60),
          "Outbound SMTP: time allowed for each reply from the next hop.");
ABSL_FLAG(int64_t, connections_per_destination, 4,
          "Outbound SMTP connections opened in parallel to one next hop.");
ABSL_FLAG(int64_t, delivery_cpu_share_while_busy,
          etrnd::reactor::BackgroundPacing::kDefaultBusySharePercent,
          "Percent of a core its deliveries (flushes) may use while clients are sending to "
          "it (1..100; 100 = no limit); with no client active they use the whole core.");
ABSL_FLAG(int64_t, messages_per_connection, 100,
          "Messages sent over one outbound connection before it is closed.");
ABSL_FLAG(std::string, dns_server, "",
          "DNS server (ip or ip:port) for MX lookups; default: /etc/resolv.conf.");

ABSL_FLAG(absl::Duration, log_turns_over, absl::ZeroDuration(),
          "Log every reactor loop turn longer than this (summarised per core, at most one line "
          "a second); 0 = off. Each core logs a histogram of its turn times at exit either way.");
ABSL_FLAG(std::string, control_socket, "",
          "Unix socket (mode 0600) that etrnctl talks to; default <spool_dir>/control.sock.");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port serving Prometheus metrics at GET /metrics (text format 0.0.4); empty = "
          "off. Bind it to a private address: it has no authentication.");
ABSL_FLAG(std::string, odmr_listen, "",
          "host:port for ODMR (RFC 2645; 366 in production): customers authenticate, say ATRN "
          "and get their domains' queued mail over the same connection. Empty = off.");
ABSL_FLAG(std::string, user, "",
          "Started as root: bind the listening ports, give the spool to this user, then drop "
          "to it (its groups, gid and uid) before serving. Empty: keep the starting user.");

ABSL_FLAG(int, mx_port, 25,
          "SMTP port used for hosts found through MX records (change only for testing).");

namespace etrnd::server {
namespace {

std::string SystemHostName() {
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

absl::Status Positive(const char* name, int64_t value) {
  if (value <= 0) {
    return absl::InvalidArgumentError(std::string("--") + name + " must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SocketAddress>> ParseAddressList(const char* name,
                                                            const std::string& text) {
  return ParseFlagList(name, text,
                       [](std::string_view item) { return SocketAddress::Parse(item); });
}

bool SameAddress(const SocketAddress& a, const SocketAddress& b) {
  return a.ip() == b.ip() && a.port() == b.port();
}

// --proxy_protocol_listen / --proxy_protocol_from into options.
absl::Status ProxyProtocolFromFlags(ServerOptions& options) {
  auto listen =
      ParseAddressList("proxy_protocol_listen", absl::GetFlag(FLAGS_proxy_protocol_listen));
  if (!listen.ok()) return listen.status();
  options.proxy_protocol_listen = std::move(*listen);
  for (const SocketAddress& proxied : options.proxy_protocol_listen) {
    // One socket cannot both expect a header and not expect one.
    for (const SocketAddress& plain : options.listen) {
      if (SameAddress(proxied, plain)) {
        return absl::InvalidArgumentError("--proxy_protocol_listen: " + proxied.ToString() +
                                          " is also in --listen");
      }
    }
  }
  auto from = ParseFlagList("proxy_protocol_from", absl::GetFlag(FLAGS_proxy_protocol_from),
                            CidrNetwork::Parse);
  if (!from.ok()) return from.status();
  options.proxy_protocol_from = std::move(*from);
  if (!options.proxy_protocol_listen.empty() && options.proxy_protocol_from.empty()) {
    // Trusting every peer would let anyone claim any address.
    return absl::InvalidArgumentError("--proxy_protocol_listen needs --proxy_protocol_from");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServerOptions> OptionsFromFlags() {
  ServerOptions options;
  // First, so that every line after a successful start has the chosen shape.
  LogFormat format;
  if (!ParseLogFormat(absl::GetFlag(FLAGS_log_format), &format)) {
    return absl::InvalidArgumentError("--log_format must be text or json");
  }
  SetLogFormat(format);
  LogLevel level;
  if (!ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    return absl::InvalidArgumentError("--log_level must be debug, info, warning or error");
  }
  SetLogLevel(level);
  int64_t log_rate_max = absl::GetFlag(FLAGS_log_rate_max);
  if (log_rate_max < 0 || log_rate_max > 1'000'000'000) {
    return absl::InvalidArgumentError("--log_rate_max must be between 0 and 1000000000");
  }
  SetLogLinesPerSecondMax(static_cast<uint32_t>(log_rate_max));

  auto listen = ParseAddressList("listen", absl::GetFlag(FLAGS_listen));
  if (!listen.ok()) return listen.status();
  options.listen = std::move(*listen);
  if (options.listen.empty()) return absl::InvalidArgumentError("--listen is empty");
  absl::Status proxy_status = ProxyProtocolFromFlags(options);
  if (!proxy_status.ok()) return proxy_status;

  if (std::string metrics = absl::GetFlag(FLAGS_metrics_listen); !metrics.empty()) {
    auto address = SocketAddress::Parse(metrics);
    if (!address.ok()) {
      return absl::InvalidArgumentError("--metrics_listen: " +
                                        std::string(address.status().message()));
    }
    options.metrics_listen = *address;
  }
  if (std::string odmr = absl::GetFlag(FLAGS_odmr_listen); !odmr.empty()) {
    auto address = SocketAddress::Parse(odmr);
    if (!address.ok()) {
      return absl::InvalidArgumentError("--odmr_listen: " +
                                        std::string(address.status().message()));
    }
    options.odmr_listen = *address;
  }

  options.hostname = absl::GetFlag(FLAGS_hostname);
  if (options.hostname.empty()) options.hostname = SystemHostName();
  options.postmaster = absl::GetFlag(FLAGS_postmaster);
  // The default is not checked: a system host name may be no valid domain,
  // and etrnd must start anyway.
  if (options.postmaster.empty()) {
    options.postmaster = "postmaster@" + options.hostname;
  } else if (!smtp::IsValidMailbox(options.postmaster)) {
    return absl::InvalidArgumentError("--postmaster: not a valid address: " + options.postmaster);
  }
  int threads = absl::GetFlag(FLAGS_threads);
  if (threads < 0 || threads > 1024) {
    return absl::InvalidArgumentError("--threads must be between 0 and 1024");
  }
  options.threads = threads;
  options.spool_dir = absl::GetFlag(FLAGS_spool_dir);
  if (options.spool_dir.empty()) return absl::InvalidArgumentError("--spool_dir is empty");
  options.control_socket = absl::GetFlag(FLAGS_control_socket);
  if (options.control_socket.empty()) options.control_socket = options.spool_dir + "/control.sock";
  options.domains_file = absl::GetFlag(FLAGS_domains_file);
  options.auth_file = absl::GetFlag(FLAGS_auth_file);
  options.fsync = absl::GetFlag(FLAGS_fsync);

  for (auto [name, value] : std::vector<std::pair<const char*, int64_t>>{
           {"max_message_size", absl::GetFlag(FLAGS_max_message_size)},
           {"max_recipients", absl::GetFlag(FLAGS_max_recipients)},
           {"max_connections", absl::GetFlag(FLAGS_max_connections)},
           {"max_connections_per_ip", absl::GetFlag(FLAGS_max_connections_per_ip)},
           {"max_errors", absl::GetFlag(FLAGS_max_errors)},
           {"max_output_bytes", absl::GetFlag(FLAGS_max_output_bytes)},
           {"segment_bytes_max", absl::GetFlag(FLAGS_segment_bytes_max)},
           {"connections_per_destination", absl::GetFlag(FLAGS_connections_per_destination)},
           {"messages_per_connection", absl::GetFlag(FLAGS_messages_per_connection)},
           {"etrn_burst", absl::GetFlag(FLAGS_etrn_burst)}}) {
    absl::Status status = Positive(name, value);
    if (!status.ok()) return status;
  }
  options.session_limits.max_message_bytes =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_message_size));
  options.session_limits.max_recipients = static_cast<size_t>(absl::GetFlag(FLAGS_max_recipients));
  options.session_limits.max_errors = static_cast<int>(absl::GetFlag(FLAGS_max_errors));
  options.session_limits.max_output_bytes =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_output_bytes));
  if (absl::GetFlag(FLAGS_min_data_rate) < 0) {
    return absl::InvalidArgumentError("--min_data_rate must not be negative");
  }
  options.session_limits.min_data_rate_bytes_per_second =
      static_cast<size_t>(absl::GetFlag(FLAGS_min_data_rate));
  options.max_connections = static_cast<size_t>(absl::GetFlag(FLAGS_max_connections));
  options.max_connections_per_ip = static_cast<size_t>(absl::GetFlag(FLAGS_max_connections_per_ip));
  options.segment_bytes_max = static_cast<uint64_t>(absl::GetFlag(FLAGS_segment_bytes_max));
  const int64_t compaction_live_percent = absl::GetFlag(FLAGS_compaction_live_percent);
  if (compaction_live_percent < 0 || compaction_live_percent > 100) {
    return absl::InvalidArgumentError("--compaction_live_percent must be 0..100");
  }
  options.compaction_live_percent = static_cast<uint32_t>(compaction_live_percent);
  options.connections_per_destination =
      static_cast<size_t>(absl::GetFlag(FLAGS_connections_per_destination));
  options.messages_per_connection =
      static_cast<size_t>(absl::GetFlag(FLAGS_messages_per_connection));
  const int64_t delivery_share = absl::GetFlag(FLAGS_delivery_cpu_share_while_busy);
  if (delivery_share < 1 || delivery_share > 100) {
    return absl::InvalidArgumentError("--delivery_cpu_share_while_busy must be 1..100");
  }
  options.delivery_cpu_share_while_busy = static_cast<int>(delivery_share);
  options.etrn_burst = absl::GetFlag(FLAGS_etrn_burst);
  options.etrn_rate_per_second = absl::GetFlag(FLAGS_etrn_rate);
  if (options.etrn_rate_per_second <= 0) {
    return absl::InvalidArgumentError("--etrn_rate must be positive");
  }

  for (auto [name, value] : std::vector<std::pair<const char*, absl::Duration>>{
           {"idle_timeout", absl::GetFlag(FLAGS_idle_timeout)},
           {"retry_initial", absl::GetFlag(FLAGS_retry_initial)},
           {"retry_max", absl::GetFlag(FLAGS_retry_max)},
           {"max_queue_lifetime", absl::GetFlag(FLAGS_max_queue_lifetime)},
           {"delivery_timeout", absl::GetFlag(FLAGS_delivery_timeout)}}) {
    if (value <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(std::string("--") + name + " must be positive");
    }
  }
  options.idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
  options.log_turns_over = absl::GetFlag(FLAGS_log_turns_over);
  if (options.log_turns_over < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--log_turns_over must not be negative");
  }
  options.session_limits.command_timeout = options.idle_timeout;
  options.retry_initial = absl::GetFlag(FLAGS_retry_initial);
  options.retry_max = absl::GetFlag(FLAGS_retry_max);
  if (options.retry_max < options.retry_initial) {
    return absl::InvalidArgumentError("--retry_max must not be below --retry_initial");
  }
  options.max_queue_lifetime = absl::GetFlag(FLAGS_max_queue_lifetime);
  options.delivery_timeout = absl::GetFlag(FLAGS_delivery_timeout);
  options.dns_server = absl::GetFlag(FLAGS_dns_server);
  int mx_port = absl::GetFlag(FLAGS_mx_port);
  if (mx_port <= 0 || mx_port > 65535) return absl::InvalidArgumentError("--mx_port: bad port");
  options.mx_port = static_cast<uint16_t>(mx_port);
  options.user = absl::GetFlag(FLAGS_user);
  if (absl::Status tls = TlsOptionsFromFlags(options); !tls.ok()) return tls;
  if (absl::Status peers = PeerOptionsFromFlags(options); !peers.ok()) return peers;
  return options;
}

}  // namespace etrnd::server
