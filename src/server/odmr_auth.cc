#include "etrnd/server/odmr_auth.h"

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "etrnd/common/check.h"
#include "etrnd/common/strings.h"
#include "etrnd/server/core.h"
#include "etrnd/server/smtp_auth.h"

namespace etrnd::server {

OdmrAuth::OdmrAuth(Core& core, SocketAddress peer) : core_(core), peer_(peer) {
  offer_ = OfferAuth(core_, peer_.ip(), /*tls_active=*/false);
  const auth::PasswordFile* passwords = core_.passwords().get();
  if (!offer_.offered && passwords != nullptr && passwords->has_cram_md5()) {
    // CRAM-MD5 never shows the password, so RFC 2645 allows it in clear;
    // PLAIN and LOGIN stay under TLS or on loopback (SPEC 5).
    offer_ = smtp::AuthOffer{.offered = true, .cram_md5 = true};
    cram_md5_only_ = true;
  }
}

OdmrAuth::~OdmrAuth() { *alive_ = false; }

void OdmrAuth::OnTlsEstablished() {
  offer_ = OfferAuth(core_, peer_.ip(), /*tls_active=*/true);
  cram_md5_only_ = false;
  dialogue_.reset();
}

std::string OdmrAuth::Mechanisms() const {
  if (!offer_.offered) return "";
  if (cram_md5_only_) return "CRAM-MD5";
  return offer_.cram_md5 ? "CRAM-MD5 PLAIN LOGIN" : "PLAIN LOGIN";
}

void OdmrAuth::Handle(const smtp::OdmrRequest& request, smtp::OdmrSession& session,
                      std::function<void()> resume) {
  smtp::AuthDialogue::Step step;
  if (request.kind == smtp::OdmrRequest::Kind::kAuth) {
    std::string_view argument = request.argument;
    std::string mechanism = absl::AsciiStrToUpper(AsAbsl(argument.substr(0, argument.find(' '))));
    if (cram_md5_only_ && mechanism != "CRAM-MD5") {
      session.AuthFailed(smtp::kReplyAuthUnknownMechanism);
      return;
    }
    dialogue_.emplace(core_.context().options.hostname);
    smtp::AuthPreconditions preconditions;
    preconditions.offer = offer_;
    preconditions.locked_out = AuthLockedOut(core_, peer_.ip());
    step = dialogue_->Start(argument, preconditions);
  } else {
    ETRND_CHECK(dialogue_.has_value());
    step = dialogue_->OnLine(request.argument);
  }
  Apply(step, session, std::move(resume));
}

void OdmrAuth::Apply(const smtp::AuthDialogue::Step& step, smtp::OdmrSession& session,
                     std::function<void()> resume) {
  switch (step.action) {
    case smtp::AuthDialogue::Action::kReply:
      if (dialogue_->active()) {
        session.AuthContinue(step.reply);
      } else {
        session.AuthFailed(step.reply);
      }
      return;
    case smtp::AuthDialogue::Action::kFinished:
      if (step.reply.starts_with("235")) {
        session.AuthSucceeded(dialogue_->user());
      } else {
        session.AuthFailed(step.reply);
      }
      return;
    case smtp::AuthDialogue::Action::kVerify:
      break;
  }
  std::weak_ptr<bool> alive = alive_;
  smtp::OdmrSession* session_ptr = &session;
  StartAuthVerification(core_, peer_.ip(), dialogue_->TakeCredentials(),
                        [this, alive, session_ptr, resume](smtp::AuthVerdict verdict) {
                          std::shared_ptr<bool> held = alive.lock();
                          if (held == nullptr || !*held) return;
                          Apply(dialogue_->OnVerdict(verdict), *session_ptr, resume);
                          resume();
                        });
}

}  // namespace etrnd::server
