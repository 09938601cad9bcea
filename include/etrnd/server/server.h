// The etrnd process: validates its inputs, recovers the spool, starts one
// Core per reactor thread, then turns signals into actions (SIGTERM/SIGINT:
// clean shutdown; SIGHUP: reload the domains table on every core).
#pragma once

#include "etrnd/server/server_options.h"

namespace etrnd::server {

// Returns the process exit code. Errors that prevent start-up are printed as
// one line "etrnd: <reason>" on stderr.
int RunServer(ServerOptions options);

}  // namespace etrnd::server
