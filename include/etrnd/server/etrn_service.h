// Serves one ETRN command: rate limit (on the core that owns the client's
// bucket), policy (pure, etrn/), then a count and
// flush on every core that owns a matched domain, gathered back on the
// session's core. Every step is O(matched domains), never O(queue size).
#pragma once

#include <functional>
#include <string>

#include "etrnd/common/net_address.h"

namespace etrnd::server {

class Core;

// reply runs on origin's thread with the complete reply line (no CRLF).
// auth_user: the session's SMTP AUTH identity ("" = none), for auth=.
void StartEtrnRequest(Core& origin, std::string argument, const IpAddress& client,
                      std::string auth_user, std::function<void(std::string)> reply);

}  // namespace etrnd::server
