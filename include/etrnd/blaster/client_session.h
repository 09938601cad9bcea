// The blaster's SMTP client, as a pure state machine: it is fed the server's
// bytes and asked to start messages, ETRNs or QUIT, and answers with bytes to
// send and results. It never touches a socket (the runner does), so every
// protocol path is unit-tested with canned replies.
//
// With PIPELINING (RFC 2920) a message goes out as MAIL + RCPTs + DATA in one
// send, then the content after 354; without it, one command per reply.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "etrnd/blaster/reply_parser.h"

namespace etrnd::blaster {

struct ClientSessionConfig {
  std::string helo_name = "blaster.invalid";
  bool use_pipelining = true;  // only when the server offers it
};

// Result of one message or ETRN.
struct TransactionResult {
  enum class Kind { kMessage, kEtrn };
  Kind kind = Kind::kMessage;
  bool ok = false;
  // When !ok: the deciding reply code ("550") or "connection", "protocol".
  std::string error;
  // Reply codes of refused recipients (also when the message went through
  // to the others).
  std::vector<int> rejected_recipient_codes;
  int final_code = 0;  // last reply code seen for the transaction
};

// What the runner must do after a call. Cleared by the caller.
struct ClientActions {
  std::vector<std::string> sends;  // in order
  std::vector<TransactionResult> results;
  // The session is idle: give it a message, an ETRN or Quit().
  bool ready = false;
  // Close the connection once sends are written.
  bool close = false;
  // An error outside any transaction (greeting or EHLO refused, 421 while
  // idle, unparsable reply): the key to count it under.
  std::string session_error;

  void Clear() { *this = ClientActions(); }
};

class ClientSession {
 public:
  enum class State {
    kGreeting,  // waiting for 220
    kEhlo,      // EHLO sent
    kHelo,      // EHLO refused, HELO sent
    kIdle,      // ready for a transaction
    kMessage,   // MAIL .. final reply
    kRset,      // after a failed message
    kEtrn,      // ETRN sent
    kQuit,      // QUIT sent
    kClosed,
  };

  explicit ClientSession(ClientSessionConfig config);

  // Server bytes, in arrival order.
  void OnReceive(std::string_view bytes, ClientActions* actions);
  // The connection ended (peer close, error, timeout): a transaction in
  // flight fails with reason.
  void OnConnectionLost(std::string_view reason, ClientActions* actions);

  // Only when idle. content is the message as generated (unstuffed, CRLF
  // lines); the session stuffs it.
  void StartMessage(std::string_view mail_from, const std::vector<std::string>& recipients,
                    std::string_view content, ClientActions* actions);
  void StartEtrn(std::string_view argument, ClientActions* actions);
  void Quit(ClientActions* actions);

  State state() const { return state_; }
  bool idle() const { return state_ == State::kIdle; }
  bool pipelining() const { return pipelining_; }
  // Replies still expected for what has been sent.
  bool awaiting_reply() const;

 private:
  void OnReply(const Reply& reply, ClientActions* actions);
  void OnMessageReply(const Reply& reply, ClientActions* actions);
  void SendNextUnpipelined(ClientActions* actions);
  void FinishMessage(bool ok, std::string error, ClientActions* actions);
  void Fatal(std::string error, ClientActions* actions);
  void BecomeIdle(ClientActions* actions);

  ClientSessionConfig config_;
  ReplyParser parser_;
  State state_ = State::kGreeting;
  bool pipelining_ = false;

  // The message in flight. Steps: 0 = MAIL, 1..n = RCPT, n+1 = DATA,
  // n+2 = end of content.
  std::string mail_from_;
  std::vector<std::string> recipients_;
  std::string wire_content_;  // stuffed, with the final ".\r\n"
  size_t step_ = 0;           // step whose reply comes next
  int mail_code_ = 0;
  int first_rejected_code_ = 0;
  size_t accepted_recipients_ = 0;
  bool content_aborted_ = false;  // 354 after a failed MAIL/RCPT: sent "." only
  TransactionResult result_;
};

}  // namespace etrnd::blaster
