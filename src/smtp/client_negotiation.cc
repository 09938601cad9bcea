// The session set-up of smtp::ClientSession: greeting, EHLO/HELO, STARTTLS
// (RFC 3207), AUTH PLAIN (RFC 4954), and commands outside transactions.
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "etrnd/common/strings.h"
#include "etrnd/smtp/client_session.h"

namespace etrnd::smtp {
namespace {

constexpr int kReadyToStartTls = 220;
constexpr int kAuthSuccessful = 235;
constexpr size_t kCommandLineBytesMax = 510;  // RFC 5321 4.5.3.1.4, CRLF excluded

// A command line we may send as given: no line breaks, within the limit.
bool SafeCommandLine(std::string_view line) {
  if (line.empty() || line.size() > kCommandLineBytesMax) return false;
  for (const char c : line) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

}  // namespace

void ClientSession::OnGreeting(const SmtpReply& reply) {
  if (!reply.Positive()) {
    return FailAndQuit(SessionFailure::Kind::kReply, reply.code, reply.Text());
  }
  state_ = State::kHello;
  SendCommand(absl::StrCat("EHLO ", AsAbsl(options_.helo_hostname), "\r\n"), {Command::kEhlo});
}

void ClientSession::OnEhlo(const SmtpReply& reply) {
  if (reply.Permanent()) {  // an old server: fall back to HELO
    SendCommand(absl::StrCat("HELO ", AsAbsl(options_.helo_hostname), "\r\n"), {Command::kHelo});
    return;
  }
  if (!reply.Positive()) {
    return FailAndQuit(SessionFailure::Kind::kReply, reply.code, reply.Text());
  }
  pipelining_ = options_.use_pipelining && reply.HasExtension("PIPELINING");
  size_extension_ = reply.HasExtension("SIZE");
  starttls_offered_ = reply.HasExtension("STARTTLS");
  AfterHello();
}

void ClientSession::OnHelo(const SmtpReply& reply) {
  if (!reply.Positive()) {
    return FailAndQuit(SessionFailure::Kind::kReply, reply.code, reply.Text());
  }
  AfterHello();
}

void ClientSession::AfterHello() {
  if (options_.tls != TlsMode::kNever && !tls_active_ && !starttls_refused_) {
    if (starttls_offered_) {
      state_ = State::kStartTls;
      SendCommand("STARTTLS\r\n", {Command::kStartTls});
      return;
    }
    if (options_.tls == TlsMode::kRequire) {
      return FailAndQuit(SessionFailure::Kind::kTls, 0,
                         "TLS is required but the server did not offer STARTTLS");
    }
  }
  if (!options_.auth_user.empty() && !authenticated_) {
    state_ = State::kAuth;
    // RFC 4616: authzid (empty) NUL authcid NUL passwd, sent as the
    // initial response (RFC 4954 section 4).
    std::string credentials(1, '\0');
    credentials += options_.auth_user;
    credentials += '\0';
    credentials += options_.auth_password;
    SendCommand(absl::StrCat("AUTH PLAIN ", absl::Base64Escape(credentials), "\r\n"),
                {Command::kAuth});
    return;
  }
  state_ = State::kIdle;
  StartNextMessageOrQuit();
}

void ClientSession::OnStartTls(const SmtpReply& reply) {
  if (reply.code == kReadyToStartTls) {
    // OnBytes refuses any byte that follows in the same read.
    state_ = State::kTlsHandshake;
    return;
  }
  if (options_.tls == TlsMode::kRequire) {
    return FailAndQuit(SessionFailure::Kind::kTls, reply.code,
                       "TLS is required but the server refused STARTTLS: " + reply.Text());
  }
  starttls_refused_ = true;  // opportunistic: go on in clear
  AfterHello();
}

void ClientSession::OnTlsStarted() {
  if (state_ != State::kTlsHandshake) return;
  tls_active_ = true;
  // RFC 3207 section 4.2: forget everything learned before TLS.
  pipelining_ = false;
  size_extension_ = false;
  starttls_offered_ = false;
  state_ = State::kHello;
  SendCommand(absl::StrCat("EHLO ", AsAbsl(options_.helo_hostname), "\r\n"), {Command::kEhlo});
}

void ClientSession::OnTlsFailed(std::string_view why) {
  if (state_ == State::kDone) return;
  Fail(SessionFailure::Kind::kTls, 0, absl::StrCat("TLS handshake failed: ", AsAbsl(why)));
}

void ClientSession::OnAuth(const SmtpReply& reply) {
  if (reply.code != kAuthSuccessful) {
    return FailAndQuit(SessionFailure::Kind::kAuth, reply.code,
                       "authentication failed: " + reply.Text());
  }
  authenticated_ = true;
  AfterHello();
}

bool ClientSession::StartCommand(std::string_view line) {
  if (state_ != State::kIdle || !SafeCommandLine(line)) return false;
  state_ = State::kCommand;
  SendCommand(absl::StrCat(AsAbsl(line), "\r\n"), {Command::kCustom});
  return true;
}

void ClientSession::OnCustom(const SmtpReply& reply) {
  command_replies_.push_back(reply);
  state_ = State::kIdle;
  StartNextMessageOrQuit();
}

}  // namespace etrnd::smtp
