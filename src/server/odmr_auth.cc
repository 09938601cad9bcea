#include "etrnd/server/odmr_auth.h"

#include "etrnd/server/core.h"

namespace etrnd::server {

OdmrAuth::OdmrAuth(Core& core, SocketAddress peer) : core_(core), peer_(peer) {}

OdmrAuth::~OdmrAuth() = default;

void OdmrAuth::Handle(const smtp::OdmrRequest&, smtp::OdmrSession& session, std::function<void()>) {
  // Placeholder until the auth module lands.
  session.AuthFailed("504 5.5.4 Unrecognized authentication type");
}

}  // namespace etrnd::server
