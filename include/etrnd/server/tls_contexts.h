// The TLS contexts one etrnd uses: the server's (STARTTLS, from --tls_cert
// and --tls_key) and the delivery client's two (opportunistic, and verifying
// against --tls_ca_file for tls=verify). Loaded together on the main thread
// at start-up and on SIGHUP, then handed to every core as one immutable
// snapshot, like the domains table.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "etrnd/server/server_options.h"
#include "etrnd/transport/tls_context.h"

namespace etrnd::server {

struct ServerContext;

struct TlsContexts {
  std::shared_ptr<const transport::TlsContext> server;  // null: no STARTTLS
  std::shared_ptr<const transport::TlsContext> client;  // any certificate
  std::shared_ptr<const transport::TlsContext> client_verify;
};

// Reads the files (blocking: never on a reactor thread). The error names
// the file and the flag.
absl::StatusOr<std::shared_ptr<const TlsContexts>> LoadTlsContexts(const TlsOptions& options);

// SIGHUP: loads again and gives every core the new snapshot; on failure
// logs and keeps the previous one.
void ReloadTlsContexts(ServerContext& context, std::string_view why);

}  // namespace etrnd::server
