#include "etrnd/peers/peer_options.h"

#include <algorithm>

namespace etrnd::peers {

bool IsPeerClient(const PeerOptions& options, const IpAddress& client, std::string_view auth_user) {
  if (!auth_user.empty() && std::find(options.peer_users.begin(), options.peer_users.end(),
                                      auth_user) != options.peer_users.end()) {
    return true;
  }
  return std::any_of(options.peer_from.begin(), options.peer_from.end(),
                     [&](const CidrNetwork& network) { return network.Contains(client); });
}

}  // namespace etrnd::peers
