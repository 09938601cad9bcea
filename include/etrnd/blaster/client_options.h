// What one client run does, built from the command line by main.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "etrnd/blaster/domain_picker.h"
#include "etrnd/common/net_address.h"
#include "etrnd/transport/tls_context.h"

namespace etrnd::blaster {

struct ClientOptions {
  SocketAddress target;
  int connections = 1;          // message sessions in all (split over threads)
  uint64_t messages = 0;        // 0 = no limit (then duration ends the run)
  absl::Duration duration;      // zero = until messages are done
  size_t message_bytes = 4096;  // content size of each message
  int recipients = 1;           // per message
  const DomainPicker* domains = nullptr;
  std::string mail_from = "blaster@blaster.test";
  std::string helo_name = "blaster.invalid";
  bool pipelining = true;
  // STARTTLS then TLS on every connection (certificates are not verified:
  // this is a load generator).
  bool starttls = false;
  std::shared_ptr<const transport::TlsContext> tls_context;  // set with starttls
  // AUTH PLAIN after EHLO when auth_user is set (--auth=user:pass).
  std::string auth_user;
  std::string auth_password;
  double rate = 0;          // messages/s in all; 0 = closed loop
  uint64_t etrn_every = 0;  // per thread: an ETRN after every N message starts
  // A session QUITs and reconnects after this many messages; 0 = never
  // (1 measures connection set-up, e.g. the TLS handshake, in every message).
  uint64_t messages_per_connection = 0;
  int threads = 1;
  absl::Duration reply_timeout = absl::Seconds(60);
  bool progress = true;  // a line per second on stderr
  uint64_t run_id = 0;   // makes Message-IDs unique across runs
  uint64_t seed = 1;
};

}  // namespace etrnd::blaster
