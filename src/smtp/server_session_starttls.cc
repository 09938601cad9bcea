// The server session's STARTTLS (RFC 3207): the command, the discarding of
// cleartext pipelined behind it (CVE-2011-0411) and the reset once TLS runs.
// The handshake itself is the glue's (transport::TlsStream).
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/smtp/server_session.h"

namespace etrnd::smtp {

// RFC 3207. The replies are Postfix's.
void ServerSession::OnStarttls(std::string_view argument) {
  if (!config_.starttls) return ReplyError("502 5.5.1 Error: command not implemented");
  if (!argument.empty()) return ReplyError("501 5.5.4 Syntax: STARTTLS");
  if (tls_active_) return ReplyError("503 5.5.1 Error: TLS already active");
  if (in_transaction_) return ReplyError("503 5.5.1 Error: MAIL transaction in progress");
  Reply("220 2.0.0 Ready to start TLS");
  // Process() stops here: what follows is discarded, the glue starts TLS.
  waiting_ = Waiting::kTls;
}

void ServerSession::DiscardAfterStarttls(size_t bytes) {
  if (bytes == 0) return;
  ETRND_LOG_INFO_REPEATED("input after STARTTLS", peer_.ip().ToString(),
                          "smtp %s: discarded %d bytes sent after STARTTLS before TLS started",
                          peer_.ToString(), bytes);
}

void ServerSession::OnTlsStarted(std::string_view version, std::string_view cipher) {
  ETRND_CHECK(waiting_ == Waiting::kTls);
  ETRND_CHECK(pending_input_.empty() && !in_transaction_);
  waiting_ = Waiting::kNothing;
  tls_active_ = true;
  tls_version_ = std::string(version);
  tls_cipher_ = std::string(cipher);
  // RFC 3207 section 4.2: forget everything learnt in clear.
  helo_name_.clear();
  esmtp_ = false;
  authenticated_user_.clear();
  auth_ = AuthDialogue(config_.hostname);
  ResetTransaction();
  line_reader_.Reset();
  last_command_at_ = services_.Now();
  line_started_at_ = absl::InfiniteFuture();
}

}  // namespace etrnd::smtp
