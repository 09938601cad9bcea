// Outbound SMTP client as a pure state machine (RFC 5321, RFC 2920
// PIPELINING, RFC 1870 SIZE). It never touches a socket: the glue feeds it
// the bytes the next hop sent (split anywhere), sends what TakeOutput()
// returns, and collects one RecipientOutcome per recipient.
//
// Dialogue: wait for 220 -> EHLO (HELO when EHLO gets 5xx) -> per message
// MAIL FROM / RCPT TO ... / DATA / dot-stuffed body -> next message or QUIT.
// With PIPELINING advertised, MAIL + every RCPT + DATA go in one write and
// the replies are matched in order; otherwise each command waits for its
// reply. A transaction that ends without a delivered body is cleared with
// RSET before the next message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "etrnd/delivery/output_chunk.h"
#include "etrnd/delivery/reply_reader.h"

namespace etrnd::delivery {

struct OutboundMessage {
  uint64_t token = 0;                   // the caller's id for the message, echoed in outcomes
  std::string mail_from;                // without angle brackets; "" is the null sender
  std::vector<std::string> recipients;  // without angle brackets
  // The stored message (ends with CRLF). Borrowed: the caller keeps it alive
  // until every recipient of this message has an outcome and the output
  // that referenced it has been written.
  std::string_view data;
};

struct RecipientOutcome {
  enum Kind { kDelivered, kDeferred, kBounced };
  uint64_t token = 0;
  size_t recipient_index = 0;  // into OutboundMessage::recipients
  Kind kind = kDeferred;
  int code = 0;  // the next hop's reply code; 0 when there was no reply
  // The next hop's reply ("550 5.1.1 <a@b>: user unknown", lines joined by
  // a space) or, without a reply, what went wrong ("connection lost ...").
  std::string reply;
  // True when the failure belongs to the connection or the host (greeting,
  // EHLO/HELO refused, 421, connection lost, timeout, broken reply), not to
  // this message: the glue may try the next MX host at once.
  bool connection_level = false;
};

class ClientSession {
 public:
  struct Options {
    std::string helo_hostname;
    size_t max_messages_per_connection = 100;
    // When the queue empties: QUIT at once (true), or wait for more Enqueue()
    // calls until Quit() (false; see idle_waiting_for_more()).
    bool quit_when_idle = true;
  };

  explicit ClientSession(Options options);
  ClientSession(std::string helo_hostname, size_t max_messages_per_connection);

  // Adds a message to this connection's batch; may be called before the
  // greeting or while the session is running (output may follow at once:
  // call TakeOutput() afterwards). Returns false, keeping nothing, when the
  // session has taken max_messages_per_connection messages or is ending:
  // the caller then delivers it on another connection.
  [[nodiscard]] bool Enqueue(OutboundMessage message);

  void OnBytes(std::string_view bytes);
  // The connection closed or broke: every unfinished recipient is deferred.
  void OnConnectionLost();
  // The reply did not come within reply_timeout(): same as a lost connection
  // (the glue closes it once done() is true).
  void OnTimeout();
  // Ends the session politely once the current message is finished.
  void Quit();

  // Bytes to send, in order. Chunks borrow from message bodies (see
  // OutboundMessage::data) and from static literals; commands are owned.
  std::vector<OutputChunk> TakeOutput();
  // Same bytes, copied into one string (tests, small writes).
  std::string TakeOutputAsString();
  std::vector<RecipientOutcome> TakeOutcomes();

  // True once QUIT was answered or the session failed: nothing more will be
  // sent and every enqueued recipient has an outcome. The glue closes (any
  // output not yet taken may be dropped then).
  bool done() const { return state_ == State::kDone; }
  // True when the session sits between messages waiting for Enqueue() or
  // Quit() (only with quit_when_idle = false).
  bool idle_waiting_for_more() const { return state_ == State::kIdle; }
  bool pipelining() const { return pipelining_; }
  // How long to wait for the reply now expected (RFC 5321 4.5.3.2), or
  // absl::InfiniteDuration() when no reply is expected.
  absl::Duration reply_timeout() const;

 private:
  enum class State { kGreeting, kHello, kIdle, kTransaction, kQuitting, kDone };
  enum class Command { kGreeting, kEhlo, kHelo, kMail, kRcpt, kData, kBody, kRset, kQuit };
  struct Pending {
    Command command;
    size_t recipient_index = 0;  // for kRcpt
  };
  enum class RecipientState { kWaiting, kAccepted, kFinished };
  struct Active {
    OutboundMessage message;
    std::vector<RecipientState> recipients;
    bool mail_accepted = false;
    bool mail_failed = false;
    bool body_sent = false;
  };

  void HandleReply(const SmtpReply& reply);
  void OnGreeting(const SmtpReply& reply);
  void OnEhlo(const SmtpReply& reply);
  void OnHelo(const SmtpReply& reply);
  void OnMail(const SmtpReply& reply);
  void OnRcpt(const SmtpReply& reply, size_t index);
  void OnData(const SmtpReply& reply);
  void OnBody(const SmtpReply& reply);
  void OnRset(const SmtpReply& reply);

  void StartNextMessageOrQuit();
  void SendMail();
  // Sends RCPT for the recipients from `index` on (only the first one
  // unless `all`), skipping unsafe addresses; false if none was sent.
  bool SendRcptsFrom(size_t index, bool all);
  void SendAfterRcpts();
  void EndTransaction();
  void SendCommand(std::string line, Pending pending);
  void SendQuit();

  size_t AcceptedCount() const;
  void Finish(size_t index, RecipientOutcome::Kind kind, int code, std::string reply,
              bool connection_level);
  void FinishAccepted(const SmtpReply& reply);
  void FinishWaitingOrAccepted(const SmtpReply& reply);
  // Defers every unfinished recipient (active and queued) with `why`.
  void DeferEverything(int code, const std::string& why);
  void Fail(int code, const std::string& why);  // defer all, done, send nothing
  void FailAndQuit(int code, const std::string& why);
  std::string Describe(const Pending& pending) const;

  Options options_;
  ReplyReader reader_;
  State state_ = State::kGreeting;
  std::deque<Pending> pending_;  // commands sent, replies not yet read
  std::deque<OutboundMessage> queued_;
  std::optional<Active> active_;
  size_t messages_taken_ = 0;
  bool pipelining_ = false;
  bool size_extension_ = false;
  bool quit_requested_ = false;
  std::vector<OutputChunk> output_;
  std::vector<RecipientOutcome> outcomes_;
};

}  // namespace etrnd::delivery
