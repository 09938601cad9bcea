// SMTP AUTH on the ODMR port: runs the SASL exchange of one OdmrSession
// and verifies the credentials off the reactor thread (the auth module's
// verifier), answering through the session.
#pragma once

#include <functional>
#include <memory>

#include "etrnd/common/net_address.h"
#include "etrnd/smtp/odmr_session.h"

namespace etrnd::server {

class Core;

class OdmrAuth {
 public:
  OdmrAuth(Core& core, SocketAddress peer);
  ~OdmrAuth();

  // One AUTH or AUTH response request. Answers through `session` at once or
  // later; when later, `resume` runs on this core afterwards.
  void Handle(const smtp::OdmrRequest& request, smtp::OdmrSession& session,
              std::function<void()> resume);

 private:
  Core& core_;
  const SocketAddress peer_;
};

}  // namespace etrnd::server
