#include "etrnd/delivery/client_session.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "etrnd/common/strings.h"

namespace etrnd::delivery {
namespace {

constexpr size_t kAddressBytesMax = 512;  // a whole command line (RFC 5321 4.5.3.1.4)
constexpr int kStartMailInput = 354;
constexpr int kServiceClosing = 421;

// RFC 5321 4.5.3.2 minimum client timeouts.
constexpr absl::Duration kGreetingTimeout = absl::Minutes(5);
constexpr absl::Duration kCommandTimeout = absl::Minutes(5);
constexpr absl::Duration kDataInitiationTimeout = absl::Minutes(2);
constexpr absl::Duration kDataTerminationTimeout = absl::Minutes(10);

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
    : ClientSession(Options{.helo_hostname = std::move(helo_hostname),
                            .max_messages_per_connection = max_messages_per_connection}) {}

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

absl::Duration ClientSession::reply_timeout() const {
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
    SmtpReply reply;
    switch (reader_.Read(&bytes, &reply)) {
      case ReplyReader::Result::kNeedMore:
        return;
      case ReplyReader::Result::kError:
        Fail(0, "malformed reply from the server");
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
  Fail(0, "connection lost " +
              (pending_.empty() ? std::string("while idle") : Describe(pending_.front())));
}

void ClientSession::OnTimeout() {
  if (state_ == State::kDone) return;
  if (state_ == State::kQuitting) {
    state_ = State::kDone;
    return;
  }
  Fail(0, "timeout " + (pending_.empty() ? std::string("while idle") : Describe(pending_.front())));
}

std::string ClientSession::Describe(const Pending& pending) const {
  switch (pending.command) {
    case Command::kGreeting:
      return "while waiting for the greeting";
    case Command::kEhlo:
      return "after EHLO";
    case Command::kHelo:
      return "after HELO";
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
    Fail(reply.code, "unexpected reply: " + reply.Text());
    return;
  }
  const Pending pending = pending_.front();
  pending_.pop_front();
  if (reply.code == kServiceClosing && pending.command != Command::kQuit) {
    Fail(reply.code, reply.Text());  // the server is closing the channel
    return;
  }
  switch (pending.command) {
    case Command::kGreeting:
      return OnGreeting(reply);
    case Command::kEhlo:
      return OnEhlo(reply);
    case Command::kHelo:
      return OnHelo(reply);
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

void ClientSession::OnGreeting(const SmtpReply& reply) {
  if (!reply.Positive()) return FailAndQuit(reply.code, reply.Text());
  state_ = State::kHello;
  SendCommand(absl::StrCat("EHLO ", AsAbsl(options_.helo_hostname), "\r\n"), {Command::kEhlo});
}

void ClientSession::OnEhlo(const SmtpReply& reply) {
  if (reply.Permanent()) {  // an old server: fall back to HELO
    SendCommand(absl::StrCat("HELO ", AsAbsl(options_.helo_hostname), "\r\n"), {Command::kHelo});
    return;
  }
  if (!reply.Positive()) return FailAndQuit(reply.code, reply.Text());
  // The first line is the server's name; each later line is "KEYWORD [params]".
  for (size_t i = 1; i < reply.lines.size(); ++i) {
    std::string_view line = reply.lines[i];
    const std::string keyword = absl::AsciiStrToUpper(AsAbsl(line.substr(0, line.find(' '))));
    if (keyword == "PIPELINING") pipelining_ = true;
    if (keyword == "SIZE") size_extension_ = true;
  }
  state_ = State::kIdle;
  StartNextMessageOrQuit();
}

void ClientSession::OnHelo(const SmtpReply& reply) {
  if (!reply.Positive()) return FailAndQuit(reply.code, reply.Text());
  state_ = State::kIdle;
  StartNextMessageOrQuit();
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
    if (message.recipients.empty()) continue;
    active_.emplace();
    active_->message = std::move(message);
    active_->recipients.assign(active_->message.recipients.size(), RecipientState::kWaiting);
    if (!SafeAddress(active_->message.mail_from)) {
      for (size_t i = 0; i < active_->recipients.size(); ++i) {
        Finish(i, RecipientOutcome::kBounced, 0, "invalid sender address", false);
      }
      active_.reset();
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
  SendRcptsFrom(0, /*all=*/true);
  SendCommand("DATA\r\n", {Command::kData});
}

bool ClientSession::SendRcptsFrom(size_t index, bool all) {
  bool sent = false;
  for (; index < active_->recipients.size(); ++index) {
    const std::string& recipient = active_->message.recipients[index];
    if (!SafeAddress(recipient)) {
      Finish(index, RecipientOutcome::kBounced, 0, "invalid recipient address", false);
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
      Finish(i, FailureKindFor(reply.code), reply.code, reply.Text(), false);
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
      Finish(index, FailureKindFor(reply.code), reply.code, reply.Text(), false);
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
  FinishAccepted(reply);
  EndTransaction();
}

void ClientSession::OnBody(const SmtpReply& reply) {
  if (active_->body_sent) {
    if (reply.Positive()) {
      for (size_t i = 0; i < active_->recipients.size(); ++i) {
        if (active_->recipients[i] == RecipientState::kAccepted) {
          Finish(i, RecipientOutcome::kDelivered, reply.code, reply.Text(), false);
        }
      }
    } else {
      FinishAccepted(reply);
    }
  }
  // The end of data ends the transaction whatever the reply: no RSET.
  active_.reset();
  StartNextMessageOrQuit();
}

void ClientSession::EndTransaction() {
  const bool open_on_server = active_->mail_accepted;
  active_.reset();
  if (open_on_server) {
    SendCommand("RSET\r\n", {Command::kRset});
  } else {
    StartNextMessageOrQuit();
  }
}

void ClientSession::OnRset(const SmtpReply& reply) {
  if (!reply.Positive()) return FailAndQuit(reply.code, reply.Text());
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
                           bool connection_level) {
  active_->recipients[index] = RecipientState::kFinished;
  outcomes_.push_back({.token = active_->message.token,
                       .recipient_index = index,
                       .kind = kind,
                       .code = code,
                       .reply = std::move(reply),
                       .connection_level = connection_level});
}

void ClientSession::FinishAccepted(const SmtpReply& reply) {
  for (size_t i = 0; i < active_->recipients.size(); ++i) {
    if (active_->recipients[i] == RecipientState::kAccepted) {
      Finish(i, FailureKindFor(reply.code), reply.code, reply.Text(), false);
    }
  }
}

void ClientSession::DeferEverything(int code, const std::string& why) {
  if (active_.has_value()) {
    for (size_t i = 0; i < active_->recipients.size(); ++i) {
      if (active_->recipients[i] != RecipientState::kFinished) {
        Finish(i, RecipientOutcome::kDeferred, code, why, true);
      }
    }
    active_.reset();
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
  }
  queued_.clear();
}

void ClientSession::Fail(int code, const std::string& why) {
  DeferEverything(code, why);
  pending_.clear();
  state_ = State::kDone;
}

void ClientSession::FailAndQuit(int code, const std::string& why) {
  DeferEverything(code, why);
  pending_.clear();
  SendQuit();
}

}  // namespace etrnd::delivery
