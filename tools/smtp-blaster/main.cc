// smtp-blaster: SMTP load generator (client mode) and receiving sink
// (--sink). See docs/smtp-blaster.md.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "etrnd/blaster/client_runner.h"
#include "etrnd/blaster/domain_picker.h"
#include "etrnd/blaster/report.h"
#include "etrnd/blaster/sink_runner.h"
#include "etrnd/common/log.h"
#include "etrnd/common/net_address.h"
#include "etrnd/common/strings.h"
#include "etrnd_version.h"

// Client mode.
ABSL_FLAG(std::string, target, "127.0.0.1:2525", "SMTP server to load, host:port (IP address)");
ABSL_FLAG(int, connections, 1, "concurrent SMTP sessions sending messages");
ABSL_FLAG(uint64_t, messages, 0,
          "messages to send in all; 0 = no limit with --duration, else 1000");
ABSL_FLAG(absl::Duration, duration, absl::ZeroDuration(),
          "stop starting messages after this long (e.g. 30s); 0 = until --messages are sent. "
          "In sink mode: run this long, then print the summary");
ABSL_FLAG(uint64_t, size, 4096, "content bytes per message (headers included)");
ABSL_FLAG(int, recipients, 1, "recipients per message");
ABSL_FLAG(uint64_t, domains, 1, "number of recipient domains");
ABSL_FLAG(std::string, domain_pattern, "d%d.test",
          "recipient domain names: printf-like with one %d, numbered from 0");
ABSL_FLAG(double, zipf, 0, "Zipf exponent for choosing domains (0 = uniform; 1 = typical skew)");
ABSL_FLAG(bool, pipelining, true,
          "send MAIL+RCPTs+DATA in one go when the server offers PIPELINING");
ABSL_FLAG(std::string, auth, "",
          "user:pass: AUTH PLAIN after EHLO (after TLS with --starttls) on every session");
ABSL_FLAG(bool, starttls, false,
          "STARTTLS then TLS on every session (the certificate is not verified); a server that "
          "does not offer it counts as error 'tls'");
ABSL_FLAG(uint64_t, messages_per_connection, 0,
          "QUIT and reconnect after this many messages per session (0 = never; 1 = a new "
          "connection, and with --starttls a new TLS handshake, for every message)");
ABSL_FLAG(uint64_t, etrn_every, 0,
          "send an ETRN for a random domain after every N messages (per thread), on a separate "
          "session; 0 = never");
ABSL_FLAG(double, rate, 0,
          "open loop: messages/second in all, latency measured from each message's scheduled "
          "start; 0 = closed loop (each session sends its next message as soon as one is done)");
ABSL_FLAG(int, threads, 1, "reactor threads (client and sink)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(60),
          "abort a session whose server has not answered for this long");
ABSL_FLAG(std::string, from, "blaster@blaster.test", "envelope sender");
ABSL_FLAG(std::string, helo, "blaster.invalid", "name sent in EHLO/HELO");
ABSL_FLAG(uint64_t, seed, 0, "random seed for domains and bodies; 0 = random");

// Both modes.
ABSL_FLAG(bool, json, false, "print the final summary as one JSON object on stdout");
ABSL_FLAG(bool, progress, true, "print a progress line on stderr once a second");

// Sink mode.
ABSL_FLAG(bool, sink, false, "run as a receiving SMTP sink instead of a load generator");
ABSL_FLAG(std::string, listen, "127.0.0.1:2700", "sink: address to accept SMTP on (port 0 = any)");
ABSL_FLAG(std::string, hostname, "blaster-sink.invalid", "sink: name in the greeting and EHLO");
ABSL_FLAG(int, sink_rcpt_code, 0, "sink: refuse RCPT with this code (e.g. 550, 450); 0 = never");
ABSL_FLAG(int, sink_data_code, 0,
          "sink: refuse messages at the end of DATA with this code (e.g. 554, 451); 0 = never");
ABSL_FLAG(double, sink_fail_fraction, 1.0,
          "sink: fraction of RCPTs / messages that get the refusal codes (deterministic: exactly "
          "floor(n * fraction) of the first n, per thread)");
ABSL_FLAG(std::string, sink_dir, "",
          "sink: store each accepted message as <dir>/<domain>/<n>.eml plus <n>.env (envelope)");
ABSL_FLAG(std::string, sink_tls_cert, "",
          "sink: PEM certificate (chain) to offer STARTTLS with (needs --sink_tls_key)");
ABSL_FLAG(std::string, sink_tls_key, "", "sink: PEM private key for --sink_tls_cert");
ABSL_FLAG(std::string, sink_auth, "",
          "sink: user:pass; offer AUTH PLAIN and require it before MAIL");
ABSL_FLAG(uint64_t, sink_max_message_size, 64 << 20, "sink: SIZE advertised; larger -> 552");

namespace {

std::atomic<bool> g_stop_requested{false};

void OnStopSignal(int) {
  // A second signal means "now".
  if (g_stop_requested.exchange(true)) _exit(130);
}

void InstallSignalHandlers() {
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "smtp-blaster: %s\n", message.c_str());
  return 2;
}

absl::StatusOr<etrnd::SocketAddress> ParseAddress(std::string text) {
  if (absl::StartsWith(etrnd::AsAbsl(text), "localhost:")) text = "127.0.0.1" + text.substr(9);
  return etrnd::SocketAddress::Parse(text);
}

// "user:pass" -> user, pass; "" leaves both empty. False without a user.
bool SplitUserPass(const std::string& text, std::string* user, std::string* pass) {
  if (text.empty()) return true;
  const size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0) return false;
  *user = text.substr(0, colon);
  *pass = text.substr(colon + 1);
  return true;
}

void PrintSummary(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

int RunSinkMode() {
  etrnd::blaster::SinkOptions options;
  absl::StatusOr<etrnd::SocketAddress> listen = ParseAddress(absl::GetFlag(FLAGS_listen));
  if (!listen.ok()) return Fail(absl::StrCat("--listen: ", listen.status().message()));
  options.listen = *listen;
  options.threads = absl::GetFlag(FLAGS_threads);
  options.session.hostname = absl::GetFlag(FLAGS_hostname);
  options.session.max_message_bytes = absl::GetFlag(FLAGS_sink_max_message_size);
  options.session.rcpt_fail_code = absl::GetFlag(FLAGS_sink_rcpt_code);
  options.session.data_fail_code = absl::GetFlag(FLAGS_sink_data_code);
  options.fail_fraction = absl::GetFlag(FLAGS_sink_fail_fraction);
  options.store_dir = absl::GetFlag(FLAGS_sink_dir);
  options.session.keep_content = !options.store_dir.empty();
  options.duration = absl::GetFlag(FLAGS_duration);
  options.progress = absl::GetFlag(FLAGS_progress);
  const std::string cert = absl::GetFlag(FLAGS_sink_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_sink_tls_key);
  if (cert.empty() != key.empty()) return Fail("--sink_tls_cert and --sink_tls_key go together");
  if (!cert.empty()) {
    auto context = etrnd::transport::TlsContext::NewServer(
        {.cert_file = cert, .key_file = key, .ciphers = ""});
    if (!context.ok()) return Fail(std::string(context.status().message()));
    options.tls_context = *std::move(context);
    options.session.starttls = true;
  }
  if (!SplitUserPass(absl::GetFlag(FLAGS_sink_auth), &options.session.auth_user,
                     &options.session.auth_password)) {
    return Fail("--sink_auth must be user:pass");
  }
  for (int code : {options.session.rcpt_fail_code, options.session.data_fail_code}) {
    if (code != 0 && (code < 400 || code > 599)) return Fail("refusal codes must be 4xx or 5xx");
  }
  absl::StatusOr<etrnd::blaster::SinkRunResult> result =
      etrnd::blaster::RunSink(options, &g_stop_requested);
  if (!result.ok()) return Fail(std::string(result.status().message()));
  PrintSummary(absl::GetFlag(FLAGS_json)
                   ? etrnd::blaster::SinkSummaryJson(result->stats, result->seconds) + "\n"
                   : etrnd::blaster::SinkSummaryText(result->stats, result->seconds));
  return 0;
}

int RunClientMode() {
  etrnd::blaster::ClientOptions options;
  absl::StatusOr<etrnd::SocketAddress> target = ParseAddress(absl::GetFlag(FLAGS_target));
  if (!target.ok()) return Fail(absl::StrCat("--target: ", target.status().message()));
  options.target = *target;
  options.connections = absl::GetFlag(FLAGS_connections);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.messages = absl::GetFlag(FLAGS_messages);
  if (options.messages == 0 && options.duration <= absl::ZeroDuration()) options.messages = 1000;
  options.message_bytes = absl::GetFlag(FLAGS_size);
  options.recipients = absl::GetFlag(FLAGS_recipients);
  options.mail_from = absl::GetFlag(FLAGS_from);
  options.helo_name = absl::GetFlag(FLAGS_helo);
  options.pipelining = absl::GetFlag(FLAGS_pipelining);
  options.starttls = absl::GetFlag(FLAGS_starttls);
  if (options.starttls) {
    // A load generator: encrypt, do not verify (the system store is loaded
    // but unused).
    auto context = etrnd::transport::TlsContext::NewClient({.ca_file = "", .verify = false});
    if (!context.ok()) return Fail(absl::StrCat("--starttls: ", context.status().message()));
    options.tls_context = *std::move(context);
  }
  if (!SplitUserPass(absl::GetFlag(FLAGS_auth), &options.auth_user, &options.auth_password)) {
    return Fail("--auth must be user:pass");
  }
  options.rate = absl::GetFlag(FLAGS_rate);
  options.etrn_every = absl::GetFlag(FLAGS_etrn_every);
  options.messages_per_connection = absl::GetFlag(FLAGS_messages_per_connection);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.reply_timeout = absl::GetFlag(FLAGS_timeout);
  options.progress = absl::GetFlag(FLAGS_progress);
  if (options.connections < 1) return Fail("--connections must be at least 1");
  if (options.recipients < 1) return Fail("--recipients must be at least 1");
  if (options.rate < 0) return Fail("--rate must be >= 0");
  if (options.reply_timeout <= absl::ZeroDuration()) return Fail("--timeout must be positive");

  absl::StatusOr<etrnd::blaster::DomainPicker> domains = etrnd::blaster::DomainPicker::Create(
      absl::GetFlag(FLAGS_domain_pattern), absl::GetFlag(FLAGS_domains), absl::GetFlag(FLAGS_zipf));
  if (!domains.ok()) return Fail(std::string(domains.status().message()));
  options.domains = &*domains;

  std::random_device entropy;
  options.seed = absl::GetFlag(FLAGS_seed);
  if (options.seed == 0) options.seed = (uint64_t{entropy()} << 32) | entropy();
  options.run_id = (uint64_t{entropy()} << 32) | entropy();

  absl::StatusOr<etrnd::blaster::ClientRunResult> result =
      etrnd::blaster::RunClient(options, &g_stop_requested);
  if (!result.ok()) return Fail(std::string(result.status().message()));
  PrintSummary(absl::GetFlag(FLAGS_json)
                   ? etrnd::blaster::ClientSummaryJson(result->stats, result->seconds) + "\n"
                   : etrnd::blaster::ClientSummaryText(result->stats, result->seconds));
  return result->stats.messages_ok > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // --version prints "smtp-blaster <meson project version>" and exits 0.
  absl::FlagsUsageConfig usage_config;
  usage_config.version_string = [] { return std::string("smtp-blaster " ETRND_VERSION "\n"); };
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "SMTP load generator and sink.\n"
      "  smtp-blaster --target=127.0.0.1:2525 --connections=64 --messages=100000 [--json]\n"
      "  smtp-blaster --sink --listen=127.0.0.1:2700 [--json]");
  absl::ParseCommandLine(argc, argv);
  InstallSignalHandlers();
  return absl::GetFlag(FLAGS_sink) ? RunSinkMode() : RunClientMode();
}
