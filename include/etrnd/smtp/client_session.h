// The one SMTP client of etrnd, as a pure state machine (RFC 5321, RFC 2920
// PIPELINING, RFC 1870 SIZE, RFC 3207 STARTTLS, RFC 4954 AUTH PLAIN), used
// by delivery, ODMR and smtp-blaster alike. It never touches a socket nor
// TLS: the glue feeds it the plaintext bytes the server sent (split
// anywhere), sends what TakeOutput() returns, runs the TLS handshake when
// wants_tls_start() says so, and collects one RecipientOutcome per recipient.
//
// Dialogue: wait for 220 -> EHLO (HELO when EHLO gets 5xx) -> [STARTTLS ->
// handshake by the glue -> EHLO again] -> [AUTH PLAIN] -> per message
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
#include "etrnd/smtp/output_chunk.h"
#include "etrnd/smtp/reply_reader.h"

namespace etrnd::smtp {

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
  // The command whose reply decided the outcome; kSession when the session
  // failed (connection_level) or the address was never sent.
  enum class Stage { kSession, kMail, kRcpt, kData, kBody };
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
  Stage stage = Stage::kSession;
};

// STARTTLS use (RFC 3207): never; when the server offers it (a refusal
// continues in clear); or required (no offer or a refusal defers all).
enum class TlsMode { kNever, kOpportunistic, kRequire };

// Why a session ended before its QUIT was answered.
struct SessionFailure {
  enum class Kind {
    kNone,
    kReply,           // a refusing reply outside a transaction (greeting, EHLO, RSET, 421)
    kProtocol,        // a malformed or unexpected reply
    kConnectionLost,  // OnConnectionLost()
    kTimeout,         // OnTimeout()
    kTls,             // TLS required and not offered or refused, or the handshake failed
    kAuth,            // AUTH refused
  };
  Kind kind = Kind::kNone;
  int code = 0;      // the deciding reply's code, 0 without one
  std::string text;  // as in RecipientOutcome::reply
};

class ClientSession {
 public:
  struct Options {
    std::string helo_hostname;
    size_t max_messages_per_connection = 100;
    // When the queue empties: QUIT at once (true), or wait for more Enqueue()
    // calls until Quit() (false; see idle_waiting_for_more()).
    bool quit_when_idle = true;
    // Use PIPELINING when the server offers it.
    bool use_pipelining = true;
    TlsMode tls = TlsMode::kNever;
    // AUTH PLAIN after EHLO (after TLS when TLS is used) when auth_user is
    // not empty; anything but 235 defers everything.
    std::string auth_user = {};
    std::string auth_password = {};
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
  // The TCP connect itself failed (`why`: "Connection refused", ...): like
  // a lost connection, with the reason in every deferral.
  void OnConnectFailed(std::string_view why);
  // The reply did not come within reply_timeout(): same as a lost connection
  // (the glue closes it once done() is true).
  void OnTimeout();
  // Ends the session politely once the current message is finished.
  void Quit();
  // After wants_tls_start(): the glue finished the TLS handshake; the
  // session forgets the server's capabilities and sends EHLO again.
  void OnTlsStarted();
  // After wants_tls_start(): the handshake failed; everything is deferred
  // and the session is done (the glue closes).
  void OnTlsFailed(std::string_view why);
  // Sends one command outside a mail transaction (ETRN, NOOP ...; `line`
  // without CRLF). Only while idle_waiting_for_more(); false otherwise. Its
  // reply comes out of TakeCommandReplies(); then the session is idle again.
  [[nodiscard]] bool StartCommand(std::string_view line);

  // Bytes to send, in order. Chunks borrow from message bodies (see
  // OutboundMessage::data) and from static literals; commands are owned.
  std::vector<OutputChunk> TakeOutput();
  // Same bytes, copied into one string (tests, small writes).
  std::string TakeOutputAsString();
  std::vector<RecipientOutcome> TakeOutcomes();
  // Tokens of the messages whose transaction is over (every recipient has
  // its outcome and the server's reply that ended it was read), in order.
  std::vector<uint64_t> TakeEndedMessages();
  std::vector<SmtpReply> TakeCommandReplies();

  // True once QUIT was answered or the session failed: nothing more will be
  // sent and every enqueued recipient has an outcome. The glue closes (any
  // output not yet taken may be dropped then).
  bool done() const { return state_ == State::kDone; }
  // True when the session sits between messages waiting for Enqueue() or
  // Quit() (only with quit_when_idle = false).
  bool idle_waiting_for_more() const { return state_ == State::kIdle; }
  bool pipelining() const { return pipelining_; }
  // True after STARTTLS got 220: the glue must run the TLS handshake before
  // feeding more bytes; the session sends nothing until OnTlsStarted().
  bool wants_tls_start() const { return state_ == State::kTlsHandshake; }
  bool tls_active() const { return tls_active_; }
  bool authenticated() const { return authenticated_; }
  const SessionFailure& failure() const { return failure_; }
  // How long to wait for the reply now expected (RFC 5321 4.5.3.2), or
  // absl::InfiniteDuration() when no reply is expected.
  absl::Duration reply_timeout() const;

 private:
  enum class State {
    kGreeting,
    kHello,
    kStartTls,
    kTlsHandshake,
    kAuth,
    kIdle,
    kCommand,
    kTransaction,
    kQuitting,
    kDone
  };
  enum class Command {
    kGreeting,
    kEhlo,
    kHelo,
    kStartTls,
    kAuth,
    kCustom,
    kMail,
    kRcpt,
    kData,
    kBody,
    kRset,
    kQuit
  };
  struct Pending {
    Command command;
    size_t recipient_index = 0;  // for kRcpt
  };
  enum class RecipientState { kWaiting, kAccepted, kFinished };
  struct Active {
    // Declared, so std::optional<Active> below does not need the default
    // member initializers before the class is complete (clang).
    Active() {}
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
  // After EHLO/HELO: STARTTLS, AUTH or the first message (client_negotiation.cc).
  void AfterHello();
  void OnStartTls(const SmtpReply& reply);
  void OnAuth(const SmtpReply& reply);
  void OnCustom(const SmtpReply& reply);
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
              bool connection_level, RecipientOutcome::Stage stage);
  void FinishAccepted(const SmtpReply& reply, RecipientOutcome::Stage stage);
  void EndActive();  // the active transaction is over: reports its end
  void FinishWaitingOrAccepted(const SmtpReply& reply);
  // Defers every unfinished recipient (active and queued) with `why`.
  void DeferEverything(int code, const std::string& why);
  // Defer all, record the failure, done, send nothing.
  void Fail(SessionFailure::Kind kind, int code, const std::string& why);
  void FailAndQuit(SessionFailure::Kind kind, int code, const std::string& why);
  std::string Describe(const Pending& pending) const;
  std::string DescribeWait() const;  // what the session waits for now

  Options options_;
  ReplyReader reader_;
  State state_ = State::kGreeting;
  std::deque<Pending> pending_;  // commands sent, replies not yet read
  std::deque<OutboundMessage> queued_;
  std::optional<Active> active_;
  size_t messages_taken_ = 0;
  bool pipelining_ = false;
  bool size_extension_ = false;
  bool starttls_offered_ = false;
  bool starttls_refused_ = false;  // kOpportunistic went on in clear
  bool tls_active_ = false;
  bool authenticated_ = false;
  bool quit_requested_ = false;
  SessionFailure failure_;
  std::vector<OutputChunk> output_;
  std::vector<RecipientOutcome> outcomes_;
  std::vector<uint64_t> ended_messages_;
  std::vector<SmtpReply> command_replies_;
};

}  // namespace etrnd::smtp
