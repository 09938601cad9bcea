#include "etrnd/smtp/client_session.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "etrnd/common/protocol_limits.h"
#include "etrnd/common/strings.h"

namespace etrnd::smtp {
namespace {

constexpr size_t kAddressBytesMax = kCommandLineOctetsMax;  // a whole command line
constexpr int kStartMailInput = 354;
constexpr int kServiceClosing = 421;

// RFC 5321 4.5.3.2 minimum client timeouts.
constexpr absl::Duration kGreetingTimeout = absl::Minutes(5);
constexpr absl::Duration kCommandTimeout = absl::Minutes(5);
constexpr absl::Duration kDataInitiationTimeout = absl::Minutes(2);
constexpr absl::Duration kDataTerminationTimeout = absl::Minutes(10);
// The glue's TLS handshake gets as long as a command's reply.
constexpr absl::Duration kTlsHandshakeTimeout = kCommandTimeout;

// An address we can put in a command line without changing its meaning.
bool SafeAddress(std::string_view address) {
  if (address.size() > kAddressBytesMax) return false;
  for (const char c : address) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == '<' || c == '>') return false;
  }
  return true;
}

// A failure reply: a permanent one bounces, anything else (4xx, or a reply
// the protocol does not allow here) defers.
RecipientOutcome::Kind FailureKindFor(int code) {
  return code >= 500 && code < 600 ? RecipientOutcome::kBounced : RecipientOutcome::kDeferred;
}

}  // namespace

ClientSession::ClientSession(Options options) : options_(std::move(options)) {
  pending_.push_back({Command::kGreeting});
}

ClientSession::ClientSession(std::string helo_hostname, size_t max_messages_per_connection)
    : ClientSession([&] {
        Options options;
        options.helo_hostname = std::move(helo_hostname);
        options.max_messages_per_connection = max_messages_per_connection;
        return options;
      }()) {}

bool ClientSession::Enqueue(OutboundMessage message) {
  if (state_ == State::kQuitting || state_ == State::kDone || quit_requested_) return false;
  if (messages_taken_ >= options_.max_messages_per_connection) return false;
  ++messages_taken_;
  queued_.push_back(std::move(message));
  if (state_ == State::kIdle) StartNextMessageOrQuit();
  return true;
}

void ClientSession::Quit() {
  quit_requested_ = true;
  if (state_ == State::kIdle) StartNextMessageOrQuit();
}

std::vector<OutputChunk> ClientSession::TakeOutput() { return std::exchange(output_, {}); }

std::string ClientSession::TakeOutputAsString() { return JoinChunks(TakeOutput()); }

std::vector<RecipientOutcome> ClientSession::TakeOutcomes() { return std::exchange(outcomes_, {}); }

std::vector<uint64_t> ClientSession::TakeEndedMessages() {
  return std::exchange(ended_messages_, {});
}

std::vector<SmtpReply> ClientSession::TakeCommandReplies() {
  return std::exchange(command_replies_, {});
}

absl::Duration ClientSession::reply_timeout() const {
  if (state_ == State::kTlsHandshake) return kTlsHandshakeTimeout;
  if (state_ == State::kDone || pending_.empty()) return absl::InfiniteDuration();
  switch (pending_.front().command) {
    case Command::kGreeting:
      return kGreetingTimeout;
    case Command::kData:
      return kDataInitiationTimeout;
    case Command::kBody:
      return kDataTerminationTimeout;
    default:
      return kCommandTimeout;
  }
}

void ClientSession::OnBytes(std::string_view bytes) {
  while (state_ != State::kDone && !bytes.empty()) {
    if (state_ == State::kTlsHandshake) {
      // Plaintext after "220 Ready to start TLS" was injected by somebody
      // (RFC 3207 section 6): it must never be read as the TLS server's.
      Fail(SessionFailure::Kind::kProtocol, 0,
           "protocol error: plaintext after the server's STARTTLS reply");
      return;
    }
    SmtpReply reply;
    switch (reader_.Read(&bytes, &reply)) {
      case ReplyReader::Result::kNeedMore:
        return;
      case ReplyReader::Result::kError:
        Fail(SessionFailure::Kind::kProtocol, 0,
             absl::StrCat("malformed reply from the server: ", reader_.error()));
        return;
      case ReplyReader::Result::kReply:
        HandleReply(reply);
        break;
    }
  }
}

void ClientSession::OnConnectionLost() {
  if (state_ == State::kDone) return;
  if (state_ == State::kQuitting) {  // every recipient already has its outcome
    state_ = State::kDone;
    return;
  }
  Fail(SessionFailure::Kind::kConnectionLost, 0, "connection lost " + DescribeWait());
}

void ClientSession::OnConnectFailed(std::string_view why) {
  if (state_ == State::kDone) return;
  Fail(SessionFailure::Kind::kConnectionLost, 0, "connect failed: " + std::string(why));
}

void ClientSession::OnTimeout() {
  if (state_ == State::kDone) return;
  if (state_ == State::kQuitting) {
    state_ = State::kDone;
    return;
  }
  Fail(SessionFailure::Kind::kTimeout, 0, "timeout " + DescribeWait());
}

std::string ClientSession::DescribeWait() const {
  if (state_ == State::kTlsHandshake) return "during the TLS handshake";
  return pending_.empty() ? std::string("while idle") : Describe(pending_.front());
}

std::string ClientSession::Describe(const Pending& pending) const {
  switch (pending.command) {
    case Command::kGreeting:
      return "while waiting for the greeting";
    case Command::kEhlo:
      return "after EHLO";
    case Command::kHelo:
      return "after HELO";
    case Command::kStartTls:
      return "after STARTTLS";
    case Command::kAuth:
      return "after AUTH";
    case Command::kCustom:
      return "after a command";
    case Command::kMail:
      return "after MAIL FROM";
    case Command::kRcpt:
      return "after RCPT TO";
    case Command::kData:
      return "after DATA";
    case Command::kBody:
      return "while sending the message body";
    case Command::kRset:
      return "after RSET";
    case Command::kQuit:
      return "after QUIT";
  }
  return "";
}

void ClientSession::HandleReply(const SmtpReply& reply) {
  if (pending_.empty()) {
    // An idle server may say 421 before it closes (RFC 5321 3.8); anything
    // else unasked for is a broken server.
    if (reply.code == kServiceClosing) {
      Fail(SessionFailure::Kind::kReply, reply.code, reply.Text());
    } else {
      Fail(SessionFailure::Kind::kProtocol, reply.code, "unexpected reply: " + reply.Text());
    }
    return;
  }
  const Pending pending = pending_.front();
  pending_.pop_front();
  if (reply.code == kServiceClosing && pending.command != Command::kQuit) {
    if (pending.command == Command::kCustom) command_replies_.push_back(reply);
    // The server is closing the channel.
    Fail(SessionFailure::Kind::kReply, reply.code, reply.Text());
    return;
  }
  switch (pending.command) {
    case Command::kGreeting:
      return OnGreeting(reply);
    case Command::kEhlo:
      return OnEhlo(reply);
    case Command::kHelo:
      return OnHelo(reply);
    case Command::kStartTls:
      return OnStartTls(reply);
    case Command::kAuth:
      return OnAuth(reply);
    case Command::kCustom:
      return OnCustom(reply);
    case Command::kMail:
      return OnMail(reply);
    case Command::kRcpt:
      return OnRcpt(reply, pending.recipient_index);
    case Command::kData:
      return OnData(reply);
    case Command::kBody:
      return OnBody(reply);
    case Command::kRset:
      return OnRset(reply);
    case Command::kQuit:
      state_ = State::kDone;
      return;
  }
}

void ClientSession::StartNextMessageOrQuit() {
  while (true) {
    if (quit_requested_ && !queued_.empty()) {
      DeferEverything(0, "not attempted: the session was asked to end");
    }
    if (queued_.empty()) {
      if (quit_requested_ || options_.quit_when_idle) {
        SendQuit();
      } else {
        state_ = State::kIdle;
      }
      return;
    }
    OutboundMessage message = std::move(queued_.front());
    queued_.pop_front();
    if (message.recipients.empty()) {
      ended_messages_.push_back(message.token);
      continue;
    }
    active_.emplace();
    active_->message = std::move(message);
    active_->recipients.assign(active_->message.recipients.size(), RecipientState::kWaiting);
    if (!SafeAddress(active_->message.mail_from)) {
      for (size_t i = 0; i < active_->recipients.size(); ++i) {
        Finish(i, RecipientOutcome::kBounced, 0, "invalid sender address", false,
               RecipientOutcome::Stage::kSession);
      }
      EndActive();
      continue;
    }
    state_ = State::kTransaction;
    SendMail();
    return;
  }
}

void ClientSession::SendMail() {
  const OutboundMessage& message = active_->message;
  std::string line = absl::StrCat("MAIL FROM:<", AsAbsl(message.mail_from), ">");
  if (size_extension_) absl::StrAppend(&line, " SIZE=", message.data.size());
  line += "\r\n";
  SendCommand(std::move(line), {Command::kMail});
  if (!pipelining_) return;
  // RFC 2920: MAIL, every RCPT and DATA in one group; replies come in order.
  SendRcptsFrom(0, /*all=*/true);
  SendCommand("DATA\r\n", {Command::kData});
}

bool ClientSession::SendRcptsFrom(size_t index, bool all) {
  bool sent = false;
  for (; index < active_->recipients.size(); ++index) {
    const std::string& recipient = active_->message.recipients[index];
    if (!SafeAddress(recipient)) {
      Finish(index, RecipientOutcome::kBounced, 0, "invalid recipient address", false,
             RecipientOutcome::Stage::kSession);
      continue;
    }
    SendCommand(absl::StrCat("RCPT TO:<", AsAbsl(recipient), ">\r\n"), {Command::kRcpt, index});
    sent = true;
    if (!all) break;
  }
  return sent;
}

void ClientSession::OnMail(const SmtpReply& reply) {
  if (reply.Positive()) {
    active_->mail_accepted = true;
    if (!pipelining_ && !SendRcptsFrom(0, /*all=*/false)) SendAfterRcpts();
    return;
  }
  for (size_t i = 0; i < active_->recipients.size(); ++i) {
    if (active_->recipients[i] != RecipientState::kFinished) {
      Finish(i, FailureKindFor(reply.code), reply.code, reply.Text(), false,
             RecipientOutcome::Stage::kMail);
    }
  }
  // Pipelined: the RCPT and DATA replies are still to come; DATA ends it.
  if (!pipelining_) EndTransaction();
}

void ClientSession::OnRcpt(const SmtpReply& reply, size_t index) {
  if (active_->recipients[index] == RecipientState::kWaiting) {
    if (reply.Positive()) {
      active_->recipients[index] = RecipientState::kAccepted;
    } else {
      Finish(index, FailureKindFor(reply.code), reply.code, reply.Text(), false,
             RecipientOutcome::Stage::kRcpt);
    }
  }
  if (!pipelining_ && !SendRcptsFrom(index + 1, /*all=*/false)) SendAfterRcpts();
}

void ClientSession::SendAfterRcpts() {
  if (AcceptedCount() > 0) {
    SendCommand("DATA\r\n", {Command::kData});
  } else {
    EndTransaction();  // nobody to deliver to: no body
  }
}

void ClientSession::OnData(const SmtpReply& reply) {
  if (reply.code == kStartMailInput) {
    // A pipelined DATA can be accepted although every RCPT failed (RFC 2920
    // section 3.1 example): end it with an empty body.
    active_->body_sent = AcceptedCount() > 0;
    if (active_->body_sent) {
      AppendDotStuffed(active_->message.data, &output_);
    } else {
      output_.push_back(OutputChunk::Borrowed(".\r\n"));
    }
    pending_.push_back({Command::kBody});
    return;
  }
  FinishAccepted(reply, RecipientOutcome::Stage::kData);
  EndTransaction();
}

void ClientSession::OnBody(const SmtpReply& reply) {
  if (active_->body_sent) {
    if (reply.Positive()) {
      for (size_t i = 0; i < active_->recipients.size(); ++i) {
        if (active_->recipients[i] == RecipientState::kAccepted) {
          Finish(i, RecipientOutcome::kDelivered, reply.code, reply.Text(), false,
                 RecipientOutcome::Stage::kBody);
        }
      }
    } else {
      FinishAccepted(reply, RecipientOutcome::Stage::kBody);
    }
  }
  // The end of data ends the transaction whatever the reply: no RSET.
  EndActive();
  StartNextMessageOrQuit();
}

void ClientSession::EndTransaction() {
  const bool open_on_server = active_->mail_accepted;
  EndActive();
  if (open_on_server) {
    SendCommand("RSET\r\n", {Command::kRset});
  } else {
    StartNextMessageOrQuit();
  }
}

void ClientSession::OnRset(const SmtpReply& reply) {
  if (!reply.Positive()) return FailAndQuit(SessionFailure::Kind::kReply, reply.code, reply.Text());
  StartNextMessageOrQuit();
}

void ClientSession::SendCommand(std::string line, Pending pending) {
  output_.push_back(OutputChunk::Owned(std::move(line)));
  pending_.push_back(pending);
}

void ClientSession::SendQuit() {
  state_ = State::kQuitting;
  SendCommand("QUIT\r\n", {Command::kQuit});
}

size_t ClientSession::AcceptedCount() const {
  size_t accepted = 0;
  for (const RecipientState state : active_->recipients) {
    if (state == RecipientState::kAccepted) ++accepted;
  }
  return accepted;
}

void ClientSession::Finish(size_t index, RecipientOutcome::Kind kind, int code, std::string reply,
                           bool connection_level, RecipientOutcome::Stage stage) {
  active_->recipients[index] = RecipientState::kFinished;
  outcomes_.push_back({.token = active_->message.token,
                       .recipient_index = index,
                       .kind = kind,
                       .code = code,
                       .reply = std::move(reply),
                       .connection_level = connection_level,
                       .stage = stage});
}

void ClientSession::FinishAccepted(const SmtpReply& reply, RecipientOutcome::Stage stage) {
  for (size_t i = 0; i < active_->recipients.size(); ++i) {
    if (active_->recipients[i] == RecipientState::kAccepted) {
      Finish(i, FailureKindFor(reply.code), reply.code, reply.Text(), false, stage);
    }
  }
}

void ClientSession::EndActive() {
  ended_messages_.push_back(active_->message.token);
  active_.reset();
}

void ClientSession::DeferEverything(int code, const std::string& why) {
  if (active_.has_value()) {
    for (size_t i = 0; i < active_->recipients.size(); ++i) {
      if (active_->recipients[i] != RecipientState::kFinished) {
        Finish(i, RecipientOutcome::kDeferred, code, why, true, RecipientOutcome::Stage::kSession);
      }
    }
    EndActive();
  }
  for (const OutboundMessage& message : queued_) {
    for (size_t i = 0; i < message.recipients.size(); ++i) {
      outcomes_.push_back({.token = message.token,
                           .recipient_index = i,
                           .kind = RecipientOutcome::kDeferred,
                           .code = code,
                           .reply = why,
                           .connection_level = true});
    }
    ended_messages_.push_back(message.token);
  }
  queued_.clear();
}

void ClientSession::Fail(SessionFailure::Kind kind, int code, const std::string& why) {
  DeferEverything(code, why);
  if (failure_.kind == SessionFailure::Kind::kNone) failure_ = {kind, code, why};
  pending_.clear();
  state_ = State::kDone;
}

void ClientSession::FailAndQuit(SessionFailure::Kind kind, int code, const std::string& why) {
  DeferEverything(code, why);
  if (failure_.kind == SessionFailure::Kind::kNone) failure_ = {kind, code, why};
  pending_.clear();
  SendQuit();
}

}  // namespace etrnd::smtp
