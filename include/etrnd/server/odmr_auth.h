// SMTP AUTH on the ODMR port: runs the SASL exchange of one OdmrSession
// and verifies the credentials off the reactor thread (the auth module's
// verifier), answering through the session.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "etrnd/common/net_address.h"
#include "etrnd/smtp/auth_command.h"
#include "etrnd/smtp/odmr_session.h"

namespace etrnd::server {

class Core;

class OdmrAuth {
 public:
  OdmrAuth(Core& core, SocketAddress peer);
  ~OdmrAuth();

  // What EHLO lists after "AUTH " ("" = no AUTH: no --auth_file).
  std::string Mechanisms() const;
  // STARTTLS done: PLAIN and LOGIN may be offered too.
  void OnTlsEstablished();

  // One AUTH or AUTH response request. Answers through `session` at once or
  // later; when later, `resume` runs on this core afterwards.
  void Handle(const smtp::OdmrRequest& request, smtp::OdmrSession& session,
              std::function<void()> resume);

 private:
  void Apply(const smtp::AuthDialogue::Step& step, smtp::OdmrSession& session,
             std::function<void()> resume);

  Core& core_;
  const SocketAddress peer_;
  smtp::AuthOffer offer_;
  bool cram_md5_only_ = false;                  // off loopback without TLS
  std::optional<smtp::AuthDialogue> dialogue_;  // of the current AUTH
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace etrnd::server
