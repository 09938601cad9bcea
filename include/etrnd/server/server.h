// The etrnd process: validates its inputs, recovers the spool, starts one
// Core per reactor thread, then turns signals into actions (SIGTERM/SIGINT:
// clean shutdown; SIGHUP: reload the domains table on every core).
#pragma once

#include <cstddef>
#include <string_view>

#include "absl/status/statusor.h"
#include "etrnd/server/server_options.h"

namespace etrnd::server {

// Returns the process exit code. Errors that prevent start-up are printed as
// one line "etrnd: <reason>" on stderr.
int RunServer(ServerOptions options);

struct ServerContext;
// Reads the domains table (and the --auth_file and TLS files) again and gives
// every core the new snapshots; on error the previous one stays. Blocking file I/O: call it from
// the main thread (SIGHUP) or a helper thread (etrnctl reload), never a reactor. Returns the number
// of entries.
absl::StatusOr<size_t> ReloadDomainsTable(ServerContext& context, std::string_view why);

}  // namespace etrnd::server
