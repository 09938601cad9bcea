#include "etrnd/smtp/server_session.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/common/strings.h"
#include "etrnd/smtp/address.h"
#include "etrnd/smtp/command.h"
#include "etrnd/smtp/received_header.h"

namespace etrnd::smtp {

namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kOk = "250 2.0.0 Ok";
constexpr std::string_view kSendHeloFirst = "503 5.5.1 Error: send HELO/EHLO first";
constexpr std::string_view kLineTooLong = "500 5.5.0 Line too long";
constexpr std::string_view kBareLf = "500 5.5.2 Error: bare <LF> received";
constexpr std::string_view kBadSyntax = "500 5.5.2 Error: bad syntax";
constexpr std::string_view kUnknownCommand = "500 5.5.2 Error: command not recognized";
constexpr std::string_view kMessageTooBig = "552 5.3.4 Message size exceeds fixed limit";
// The message buffer's first size, past the Received: header.
constexpr size_t kDataReserveBytes = 4096;
constexpr std::string_view kHelp =
    "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP ETRN";

// "FROM:" in "MAIL FROM:<...>", case-insensitive; spaces after the colon
// are tolerated (many clients send them).
bool StripKeyword(std::string_view keyword, std::string_view* argument) {
  if (!absl::StartsWithIgnoreCase(AsAbsl(*argument), AsAbsl(keyword))) return false;
  argument->remove_prefix(keyword.size());
  while (!argument->empty() && argument->front() == ' ') argument->remove_prefix(1);
  return true;
}

bool IsPostmaster(std::string_view local_part) {
  return absl::EqualsIgnoreCase(AsAbsl(local_part), "postmaster");
}

// The duplicate-recipient key. The domain compares case-insensitively (it
// is a DNS name), the local part exactly: only the destination host may
// interpret it (RFC 5321 section 2.4). "a"@x and a@x stay distinct.
std::string RecipientKey(std::string_view mailbox) {
  std::string key(mailbox);
  const size_t at = key.rfind('@');
  if (at == std::string::npos) return key;
  for (size_t i = at + 1; i < key.size(); ++i) key[i] = absl::ascii_tolower(key[i]);
  return key;
}

// The three-digit code of a reply line the glue built; 0 if it has none.
int ReplyCode(std::string_view line) {
  int code = 0;
  if (line.size() < 3 || !absl::SimpleAtoi(AsAbsl(line.substr(0, 3)), &code)) return 0;
  return code;
}

}  // namespace

ServerSession::ServerSession(const SessionConfig& config, SessionServices& services,
                             SocketAddress peer)
    : config_(config),
      services_(services),
      peer_(peer),
      line_reader_(config.limits.max_command_line_bytes),
      data_decoder_(config.limits.max_message_bytes, config.limits.max_text_line_bytes),
      auth_(config.hostname) {}

void ServerSession::Start() {
  last_command_at_ = services_.Now();
  Reply(absl::StrCat("220 ", config_.hostname, " ESMTP etrnd"));
}

std::string ServerSession::TakeOutput() { return std::exchange(output_, std::string()); }

// ---------------------------------------------------------------- input

void ServerSession::OnBytes(std::string_view bytes) {
  if (close_requested_) return;
  if (waiting_ == Waiting::kTls) return DiscardAfterStarttls(bytes.size());
  // Replies must stay in command order: while a result is outstanding (or
  // older input still waits), new input queues behind it.
  // Back-pressure likewise: a client that does not read its replies gets no
  // more of its input processed until they drain.
  if (waiting() || processing_ || output_blocked()) {
    KeepPending(bytes);
    return;
  }
  if (!pending_input_.empty()) {
    KeepPending(bytes);
    ResumePendingInput();
    return;
  }
  Process(bytes);
}

void ServerSession::Process(std::string_view input) {
  const absl::Time now = services_.Now();
  const uint64_t lines_before = lines_completed_;
  processing_ = true;
  while (!input.empty() && !waiting() && !close_requested_ && !output_blocked()) {
    const size_t consumed =
        phase_ == Phase::kData ? ConsumeDataBytes(input) : ConsumeCommandBytes(input);
    input.remove_prefix(consumed);
  }
  processing_ = false;
  NoteLineProgress(now, lines_before);
  if (waiting_ == Waiting::kTls) {
    // Cleartext pipelined behind STARTTLS must never run as if it came
    // under TLS (CVE-2011-0411).
    DiscardAfterStarttls(input.size() + std::exchange(pending_input_, std::string()).size());
    return;
  }
  if (input.empty() || close_requested_) return;
  // Bytes queued re-entrantly meanwhile (from inside a service call) are
  // newer than what is left of this input.
  std::string newer = std::exchange(pending_input_, std::string());
  KeepPending(input);
  KeepPending(newer);
}

// The command deadline runs from the last complete command line, or from
// the first byte of an unfinished one: trickling bytes do not extend it.
void ServerSession::NoteLineProgress(absl::Time now, uint64_t lines_before) {
  if (lines_completed_ != lines_before) last_command_at_ = now;
  if (phase_ != Phase::kCommand || !line_reader_.has_partial_line()) {
    line_started_at_ = absl::InfiniteFuture();
  } else if (lines_completed_ != lines_before || line_started_at_ == absl::InfiniteFuture()) {
    line_started_at_ = now;
  }
}

bool ServerSession::output_blocked() const {
  return output_.size() + services_.UnsentOutputBytes() >= config_.limits.max_output_bytes;
}

bool ServerSession::wants_input() const {
  return !close_requested_ && !output_blocked() &&
         pending_input_.size() < config_.limits.pause_input_bytes;
}

void ServerSession::OnOutputDrained() {
  if (!waiting()) ResumePendingInput();
}

bool ServerSession::CheckDeadlines(absl::Time now) {
  // Waiting for our own spool or ETRN answer is not the client's delay, and
  // a blocked output is the glue's to time out (nobody reads a 421 there).
  // A TLS handshake is the client's: it must finish within the timeout.
  if (close_requested_ || output_blocked()) return false;
  if (waiting() && waiting_ != Waiting::kTls) return false;
  const absl::Duration timeout = config_.limits.command_timeout;
  if (phase_ == Phase::kData) {
    const absl::Duration elapsed = now - data_started_at_;
    const absl::Duration grace = std::min(timeout, kDataRateGraceMax);
    const double rate = static_cast<double>(config_.limits.min_data_rate_bytes_per_second);
    if (elapsed > grace &&
        static_cast<double>(data_bytes_) < rate * absl::ToDoubleSeconds(elapsed)) {
      ETRND_LOG_INFO_REPEATED("data rate too low", peer_.ip().ToString(),
                              "smtp %s: DATA below %d bytes/s (%d bytes in %s)", peer_.ToString(),
                              config_.limits.min_data_rate_bytes_per_second, data_bytes_,
                              absl::FormatDuration(elapsed));
      CloseWith(absl::StrCat("421 4.4.2 ", config_.hostname, " Error: data rate too low"));
      return true;
    }
    if (now - data_last_byte_at_ > timeout) {
      OnIdleTimeout();
      return true;
    }
    return false;
  }
  const bool line_unfinished = line_started_at_ != absl::InfiniteFuture();
  const absl::Time started = line_unfinished ? line_started_at_ : last_command_at_;
  if (now - started <= timeout) return false;
  ETRND_LOG_INFO_REPEATED("idle timeout", peer_.ip().ToString(), "smtp %s: %s", peer_.ToString(),
                          line_unfinished ? "command line unfinished within the timeout"
                                          : "no command within the timeout");
  OnIdleTimeout();
  return true;
}

void ServerSession::ResumePendingInput() {
  if (processing_ || pending_input_.empty()) return;
  const std::string input = std::exchange(pending_input_, std::string());
  Process(input);
}

void ServerSession::KeepPending(std::string_view input) {
  if (input.empty() || close_requested_) return;
  if (pending_input_.size() + input.size() > config_.limits.max_pending_input_bytes) {
    ETRND_LOG_INFO_REPEATED("too much pipelined input", peer_.ip().ToString(),
                            "smtp %s: too much pipelined input", peer_.ToString());
    CloseWith(absl::StrCat("421 4.7.0 ", config_.hostname, " Error: too much pipelined input"));
    return;
  }
  pending_input_.append(input);
}

size_t ServerSession::ConsumeCommandBytes(std::string_view input) {
  size_t consumed = 0;
  Line line;
  switch (line_reader_.Parse(input, &consumed, &line)) {
    case LineReader::Result::kLine:
      ++lines_completed_;
      if (auth_.active()) {
        RunAuthStep(auth_.OnLine(line.text));
      } else {
        HandleLine(line);
      }
      break;
    case LineReader::Result::kTooLong:
      ++lines_completed_;
      if (auth_.active()) {
        RunAuthStep(auth_.OnLineTooLong());
      } else {
        ReplyError(kLineTooLong);
      }
      break;
    case LineReader::Result::kNeedMore:
      break;
  }
  return consumed;
}

size_t ServerSession::ConsumeDataBytes(std::string_view input) {
  size_t consumed = 0;
  const DataDecoder::Result result = data_decoder_.Consume(input, &consumed, &message_data_);
  data_bytes_ += consumed;
  if (consumed > 0) data_last_byte_at_ = services_.Now();
  if (result == DataDecoder::Result::kDone) {
    last_command_at_ = data_last_byte_at_;
    FinishData();
  }
  return consumed;
}

void ServerSession::HandleLine(const Line& line) {
  // A bare LF still frames the line (so the session stays in step with
  // the client) but the command is refused, as is binary junk.
  if (line.bare_lf) return ReplyError(kBareLf);
  if (!IsPrintableCommandLine(line.text)) return OnUnprintableLine(line.text);
  const Command command = ParseCommand(line.text);
  switch (command.verb) {
    case Verb::kEhlo:
      return OnEhlo(command.argument);
    case Verb::kHelo:
      return OnHelo(command.argument);
    case Verb::kMail:
      return OnMail(command.argument);
    case Verb::kRcpt:
      return OnRcpt(command.argument);
    case Verb::kData:
      return OnData(command.argument);
    case Verb::kRset:
      return OnRset(command.argument);
    case Verb::kNoop:
      return Reply(kOk);
    case Verb::kQuit:
      return OnQuit();
    case Verb::kVrfy:
      return OnVrfy(command.argument);
    case Verb::kHelp:
      return Reply(kHelp);
    case Verb::kEtrn:
      return OnEtrn(command.argument);
    case Verb::kAuth:
      return OnAuth(command.argument);
    case Verb::kStarttls:
      return OnStarttls(command.argument);
    case Verb::kUnknown:
      return ReplyError(line.text.empty() ? kBadSyntax : kUnknownCommand);
  }
}

// Binary junk is refused without looking further, except behind a clean
// ETRN verb: there the bad octets are in the node name, which SPEC 6
// answers with ETRN's own 501.
void ServerSession::OnUnprintableLine(std::string_view text) {
  const Command command = ParseCommand(text);
  if (command.verb == Verb::kEtrn) return OnEtrn(command.argument);
  ReplyError(kBadSyntax);
}

// ---------------------------------------------------------------- commands

void ServerSession::OnEhlo(std::string_view argument) {
  if (argument.empty()) return ReplyError("501 5.5.4 Syntax: EHLO hostname");
  Greeted(argument, /*esmtp=*/true);
  Reply(absl::StrCat("250-", config_.hostname));
  Reply("250-PIPELINING");
  Reply(absl::StrCat("250-SIZE ", config_.limits.max_message_bytes));
  Reply("250-ETRN");
  if (const AuthOffer offer = services_.AuthOffered(); offer.offered) {
    Reply(absl::StrCat("250-", AuthEhloKeyword(offer)));
  }
  if (config_.starttls && !tls_active_) Reply("250-STARTTLS");
  Reply("250-ENHANCEDSTATUSCODES");
  Reply("250 8BITMIME");
}

void ServerSession::OnHelo(std::string_view argument) {
  if (argument.empty()) return ReplyError("501 5.5.4 Syntax: HELO hostname");
  Greeted(argument, /*esmtp=*/false);
  Reply(absl::StrCat("250 ", config_.hostname));
}

// HELO/EHLO also aborts any transaction (RFC 5321 section 4.1.4).
void ServerSession::Greeted(std::string_view helo_name, bool esmtp) {
  ResetTransaction();
  helo_name_ = std::string(helo_name);
  esmtp_ = esmtp;
}

void ServerSession::OnMail(std::string_view argument) {
  // Like Postfix's default (smtpd_helo_required = no), a transaction may
  // start without HELO/EHLO; the Received: header then says "unknown".
  if (in_transaction_) return ReplyError("503 5.5.1 Error: nested MAIL command");
  PathArgument path;
  if (!StripKeyword("FROM:", &argument) || !ParsePathArgument(argument, &path)) {
    return ReplyError("501 5.5.4 Syntax: MAIL FROM:<address>");
  }
  if (!path.mailbox.empty() && !IsValidMailbox(path.mailbox)) {
    return ReplyError("501 5.1.7 Bad sender address syntax");
  }
  if (std::string problem = CheckMailParameters(path.parameters); !problem.empty()) {
    return ReplyError(problem);
  }
  in_transaction_ = true;
  mail_from_ = std::string(path.mailbox);
  Reply("250 2.1.0 Ok");
}

std::string ServerSession::CheckMailParameters(std::string_view parameters) {
  std::vector<Parameter> parsed;
  if (!ParseParameters(parameters, &parsed)) return "501 5.5.4 Syntax error in parameters";
  for (const auto& [keyword, value] : parsed) {
    if (absl::EqualsIgnoreCase(AsAbsl(keyword), "SIZE")) {
      uint64_t size = 0;
      if (!absl::SimpleAtoi(AsAbsl(value), &size)) return "501 5.5.4 Bad SIZE parameter";
      if (size > config_.limits.max_message_bytes) return std::string(kMessageTooBig);
    } else if (absl::EqualsIgnoreCase(AsAbsl(keyword), "AUTH")) {
      // RFC 4954 section 5: accepted once AUTH is offered; the value is a
      // claim about the original submitter, which etrnd does not relay on.
      if (!services_.AuthOffered().offered) {
        return absl::StrCat("555 5.5.4 Unsupported option: ", AsAbsl(keyword));
      }
    } else if (absl::EqualsIgnoreCase(AsAbsl(keyword), "BODY")) {
      if (!absl::EqualsIgnoreCase(AsAbsl(value), "7BIT") &&
          !absl::EqualsIgnoreCase(AsAbsl(value), "8BITMIME")) {
        return "501 5.5.4 Bad BODY parameter";
      }
    } else {
      return absl::StrCat("555 5.5.4 Unsupported option: ", AsAbsl(keyword));
    }
  }
  return "";
}

void ServerSession::OnRcpt(std::string_view argument) {
  if (!in_transaction_) return ReplyError("503 5.5.1 Error: need MAIL command");
  PathArgument path;
  if (!StripKeyword("TO:", &argument) || !ParsePathArgument(argument, &path)) {
    return ReplyError("501 5.5.4 Syntax: RCPT TO:<address>");
  }
  const bool postmaster = IsOurPostmaster(path.mailbox);
  if (!postmaster && !IsValidMailbox(path.mailbox)) {
    return ReplyError("501 5.1.3 Bad recipient address syntax");
  }
  if (!path.parameters.empty()) {
    std::vector<Parameter> parsed;
    if (!ParseParameters(path.parameters, &parsed)) {
      return ReplyError("501 5.5.4 Syntax error in parameters");
    }
    return ReplyError(absl::StrCat("555 5.5.4 Unsupported option: ", AsAbsl(parsed[0].first)));
  }
  std::string recipient = postmaster ? PostmasterAddress() : std::string(path.mailbox);
  std::string key = RecipientKey(recipient);
  // Given twice: answered as before, delivered once (SPEC 5); no new slot.
  if (recipient_keys_.contains(key)) return Reply("250 2.1.5 Ok");
  // Not an error count: a pipelining client may well send too many.
  if (recipients_.size() >= config_.limits.max_recipients) {
    services_.OnRefused(452);
    return Reply("452 4.5.3 Error: too many recipients");
  }
  // The postmaster is queued like a bounce: the queue routes a domain that
  // is not in the table by MX, so the table is not asked.
  if (!postmaster &&
      services_.CheckRecipient(MailboxDomain(path.mailbox)) == RecipientVerdict::kRelayDenied) {
    services_.OnRefused(554);
    return ReplyError(absl::StrCat("554 5.7.1 <", AsAbsl(path.mailbox), ">: Relay access denied"));
  }
  recipient_keys_.insert(std::move(key));
  recipients_.push_back(std::move(recipient));
  ETRND_CHECK(recipients_.size() == recipient_keys_.size());
  ETRND_CHECK(recipients_.size() <= config_.limits.max_recipients);
  Reply("250 2.1.5 Ok");
}

// RFC 5321 section 4.5.1: "postmaster" in any case, without a domain or at
// our own host name.
bool ServerSession::IsOurPostmaster(std::string_view mailbox) const {
  const size_t at = mailbox.rfind('@');
  if (at == std::string_view::npos) return IsPostmaster(mailbox);
  return IsPostmaster(mailbox.substr(0, at)) &&
         absl::EqualsIgnoreCase(AsAbsl(mailbox.substr(at + 1)), config_.hostname);
}

std::string ServerSession::PostmasterAddress() const {
  if (!config_.postmaster.empty()) return config_.postmaster;
  return absl::StrCat("postmaster@", config_.hostname);
}

void ServerSession::OnData(std::string_view argument) {
  if (!argument.empty()) return ReplyError("501 5.5.4 Syntax: DATA");
  if (!in_transaction_) return ReplyError("503 5.5.1 Error: need MAIL command");
  // Not counted as an error: the refused RCPTs already were, and a
  // pipelining client (RFC 2920) sends DATA before it sees their replies.
  if (recipients_.empty()) {
    services_.OnRefused(554);
    return Reply("554 5.5.1 Error: no valid recipients");
  }
  queue_id_ = services_.NewQueueId();
  // The trace header goes first so the body is appended after it in place.
  message_data_ = FormatReceivedHeader({
      .helo_name = helo_name_.empty() ? std::string_view("unknown") : helo_name_,
      .peer_ip = peer_.ip(),
      .hostname = config_.hostname,
      .esmtp = esmtp_,
      .tls_version = tls_version_,
      .tls_cipher = tls_cipher_,
      .authenticated = !authenticated_user_.empty(),
      .queue_id = queue_id_,
      .recipient = recipients_.size() == 1 ? std::string_view(recipients_[0]) : "",
      .time = services_.Now(),
  });
  // The body goes in behind the header; most messages then fit without the
  // buffer growing (and copying) several times.
  message_data_.reserve(message_data_.size() +
                        std::min(kDataReserveBytes, config_.limits.max_message_bytes));
  data_decoder_.Reset();
  phase_ = Phase::kData;
  data_started_at_ = data_last_byte_at_ = services_.Now();
  data_bytes_ = 0;
  Reply("354 End data with <CR><LF>.<CR><LF>");
}

void ServerSession::FinishData() {
  phase_ = Phase::kCommand;
  if (data_decoder_.too_big()) {
    services_.OnRefused(552);
    ReplyError(kMessageTooBig);
  } else if (data_decoder_.bare_lf() || data_decoder_.bare_cr()) {
    services_.OnRefused(550);
    ReplyError("550 5.6.0 Error: bare <CR> or <LF> in message content");
  } else if (data_decoder_.nul()) {
    // 554 like Postfix's content rejections; 5.6.0: bad content (RFC 3463).
    services_.OnRefused(554);
    ReplyError("554 5.6.0 Error: message contains NUL characters");
  } else if (CountReceivedFields(message_data_, config_.limits.max_hops + 1) >
             config_.limits.max_hops) {
    // A loop (for instance postmaster mail whose MX is this server again).
    services_.OnRefused(554);
    ReplyError("554 5.4.6 Error: too many hops (mail loop)");
  } else if (data_decoder_.line_too_long()) {
    services_.OnRefused(552);
    ReplyError(absl::StrCat("552 5.6.0 Error: message has a line longer than ",
                            config_.limits.max_text_line_bytes, " octets"));
  } else {
    waiting_ = Waiting::kStore;
    AcceptedMessage message{std::move(queue_id_), std::move(mail_from_), std::move(recipients_),
                            std::move(message_data_), helo_name_};
    ResetTransaction();
    services_.StoreMessage(std::move(message));
    return;
  }
  ResetTransaction();
}

void ServerSession::OnRset(std::string_view argument) {
  if (!argument.empty()) return ReplyError("501 5.5.4 Syntax: RSET");
  ResetTransaction();
  Reply(kOk);
}

void ServerSession::OnQuit() {
  Reply("221 2.0.0 Bye");
  close_requested_ = true;
}

void ServerSession::OnVrfy(std::string_view argument) {
  if (argument.empty()) return ReplyError("501 5.5.4 Syntax: VRFY address");
  Reply("252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery");
}

void ServerSession::OnEtrn(std::string_view argument) {
  if (helo_name_.empty()) {
    services_.OnEtrnAnswered(503);
    return ReplyError(kSendHeloFirst);
  }
  if (in_transaction_) {
    services_.OnEtrnAnswered(503);
    return ReplyError("503 5.5.1 Error: MAIL transaction in progress");
  }
  if (argument.empty()) {
    services_.OnEtrnAnswered(501);
    return ReplyError("501 5.5.4 Syntax: ETRN [@|#]node");
  }
  // A domain or queue name is ASCII (no SMTPUTF8): refused here, once, so
  // it never reaches the ETRN policy as a string it cannot log or match.
  if (!IsPrintableCommandLine(argument)) {
    services_.OnEtrnAnswered(501);
    return ReplyError("501 5.5.4 Syntax: ETRN [@|#]node (bad characters)");
  }
  waiting_ = Waiting::kEtrn;
  services_.StartEtrn(argument);
}

// ---------------------------------------------------------------- results

void ServerSession::OnStoreResult(absl::StatusOr<std::string> queue_id) {
  if (waiting_ != Waiting::kStore) return;  // e.g. closed by a timeout meanwhile
  waiting_ = Waiting::kNothing;
  last_command_at_ = services_.Now();  // the client's clock starts at our reply
  if (queue_id.ok()) {
    Reply(absl::StrCat("250 2.0.0 Ok: queued as ", *queue_id));
  } else if (absl::IsResourceExhausted(queue_id.status())) {
    services_.OnRefused(452);
    Reply("452 4.3.1 Insufficient system storage");
  } else {
    services_.OnRefused(451);
    Reply("451 4.3.0 Error: queue file write error");
  }
  ResumePendingInput();
}

void ServerSession::OnEtrnResult(std::string reply_line) {
  if (waiting_ != Waiting::kEtrn) return;
  waiting_ = Waiting::kNothing;
  last_command_at_ = services_.Now();  // the client's clock starts at our reply
  // Not an error count: 458 (rate limit) must leave the session open.
  if (int code = ReplyCode(reply_line); code >= 200 && code <= 599) services_.OnEtrnAnswered(code);
  Reply(reply_line);
  ResumePendingInput();
}

void ServerSession::OnIdleTimeout() {
  CloseWith(absl::StrCat("421 4.4.2 ", config_.hostname, " Error: timeout exceeded"));
}

void ServerSession::OnShutdown() {
  CloseWith(absl::StrCat("421 4.3.2 ", config_.hostname, " Service shutting down"));
}

// ---------------------------------------------------------------- helpers

void ServerSession::Reply(std::string_view line) {
  if (close_requested_) return;
  output_.append(line);
  output_.append(kCrlf);
}

void ServerSession::ReplyError(std::string_view line) {
  Reply(line);
  if (++error_count_ > config_.limits.max_errors) {
    ETRND_LOG_INFO_REPEATED("too many errors", peer_.ip().ToString(), "smtp %s: too many errors",
                            peer_.ToString());
    CloseWith(absl::StrCat("421 4.7.0 ", config_.hostname, " Error: too many errors"));
  }
}

void ServerSession::CloseWith(std::string_view line) {
  Reply(line);
  close_requested_ = true;
  pending_input_.clear();
}

void ServerSession::ResetTransaction() {
  in_transaction_ = false;
  mail_from_.clear();
  recipients_.clear();
  recipient_keys_.clear();
  queue_id_.clear();
  message_data_ = std::string();  // a refused message's buffer is released
}

}  // namespace etrnd::smtp
