// The inbound SMTP server session (RFC 5321, RFC 2920 pipelining, RFC 1870
// SIZE, RFC 6152 8BITMIME, RFC 2034 enhanced codes, RFC 1985 ETRN) as a pure
// state machine: it takes bytes and events, returns reply bytes, and asks
// SessionServices for what lies beyond the protocol (relay policy, queue
// ids, storing, ETRN). No sockets, no io_uring.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "etrnd/auth/sasl_exchange.h"
#include "etrnd/common/net_address.h"
#include "etrnd/common/protocol_limits.h"
#include "etrnd/smtp/auth_command.h"
#include "etrnd/smtp/data_decoder.h"
#include "etrnd/smtp/line_reader.h"

namespace etrnd::smtp {

struct SessionLimits {
  size_t max_message_bytes = 10485760;
  size_t max_recipients = 1000;
  size_t max_command_line_bytes = kCommandLineOctetsMax;  // CRLF included
  size_t max_text_line_bytes = kTextLineOctetsMax;        // CRLF included
  // More Received: fields than this (ours included) is a mail loop: 554
  // 5.4.6. RFC 5321 6.3 asks for at least 100.
  size_t max_hops = 100;
  int max_errors = 20;  // then 421 and close
  // Input that arrives while a store/ETRN result is outstanding is kept
  // until it can be processed; more than this is abuse (421 and close).
  // The glue stops reading at pause_input_bytes, so only what the kernel
  // had already handed over can come on top of that.
  size_t max_pending_input_bytes = 128 * 1024;
  // Back-pressure: once this many reply bytes are unsent (ours plus the
  // transport's), input is left unprocessed until they drain.
  size_t max_output_bytes = 256 * 1024;
  // Input the session keeps unprocessed before it asks not to be read.
  size_t pause_input_bytes = 32 * 1024;
  // A command line must be complete within this of its first byte, and a
  // session may not stay without a command longer than this.
  absl::Duration command_timeout = absl::Seconds(300);
  // DATA must average this many bytes/s over the whole transfer once the
  // grace period (the command timeout, at most kDataRateGraceMax) is over.
  size_t min_data_rate_bytes_per_second = 500;
};

// The slowest DATA transfer is judged only after this much time at most.
inline constexpr absl::Duration kDataRateGraceMax = absl::Seconds(30);

struct SessionConfig {
  std::string hostname;
  // Where RCPT TO:<postmaster> and <postmaster@hostname> go (RFC 5321
  // section 4.5.1); "" means postmaster@<hostname>.
  std::string postmaster;
  // TLS is configured: EHLO offers STARTTLS (RFC 3207) until it is active.
  bool starttls = false;
  SessionLimits limits;
};

struct AcceptedMessage {
  std::string queue_id;                 // from SessionServices::NewQueueId()
  std::string mail_from;                // reverse-path without <>, "" = null sender
  std::vector<std::string> recipients;  // forward-paths without <>, as given
  // One Received: header + dot-unstuffed body, CRLF lines, without the
  // final ".\r\n".
  std::string data;
  std::string helo_name;  // as sent, "" if none (for the log)
};

enum class RecipientVerdict { kAccept, kRelayDenied };

class SessionServices {  // implemented by the server glue; fakes in tests
 public:
  virtual ~SessionServices() = default;
  virtual RecipientVerdict CheckRecipient(std::string_view domain) = 0;
  virtual std::string NewQueueId() = 0;
  // Asynchronous: the glue calls ServerSession::OnStoreResult later (it may
  // also call it from inside StoreMessage).
  virtual void StoreMessage(AcceptedMessage message) = 0;
  // Asynchronous: the glue calls ServerSession::OnEtrnResult later (it may
  // also call it from inside StartEtrn). The argument is as sent; it is
  // only valid during the call.
  virtual void StartEtrn(std::string_view argument) = 0;
  // SMTP AUTH (RFC 4954): what EHLO offers on this connection (nothing by
  // default), whether the client's address is locked out after failures,
  // and the credential check, asynchronous: the glue calls
  // ServerSession::OnAuthResult later (it may also call it from inside).
  virtual AuthOffer AuthOffered() { return {}; }
  virtual bool AuthLockedOut() { return false; }
  virtual void VerifyCredentials(auth::SaslCredentials /*credentials*/) {}
  // The clock of the Received: header date and of the deadlines; tests pin it.
  virtual absl::Time Now() { return absl::Now(); }
  // Reply bytes already handed to the transport and not yet written.
  virtual size_t UnsentOutputBytes() { return 0; }
  // For counting (metrics): a recipient or message refused with this reply
  // code, and every ETRN answered, by its reply code.
  virtual void OnRefused(int /*reply_code*/) {}
  virtual void OnEtrnAnswered(int /*reply_code*/) {}
};

class ServerSession {
 public:
  ServerSession(const SessionConfig& config, SessionServices& services, SocketAddress peer);
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  void Start();                          // queues the 220 greeting
  void OnBytes(std::string_view bytes);  // processes as much as possible
  // -> "250 2.0.0 Ok: queued as <id>" or an error reply; resumes input.
  void OnStoreResult(absl::StatusOr<std::string> queue_id);
  void OnEtrnResult(std::string reply_line);  // reply without CRLF; resumes input
  void OnAuthResult(AuthVerdict verdict);     // -> 235/535/454; resumes input
  void OnIdleTimeout();                       // 421 4.4.2 <hostname> Error: timeout exceeded; close
  // Closes with 421 when a deadline has passed: the command timeout (no
  // command, or a command line unfinished since its first byte) or, in
  // DATA, the minimum data rate. Returns true when it closed the session.
  bool CheckDeadlines(absl::Time now);
  // The transport drained some output: processes input held back by
  // back-pressure.
  void OnOutputDrained();
  // False while the session holds back input (unsent output over the bound,
  // or unprocessed input over pause_input_bytes): the glue stops reading.
  bool wants_input() const;
  bool output_blocked() const;
  void OnShutdown();  // 421 4.3.2 <hostname> Service shutting down; close
  // STARTTLS (RFC 3207): after "220 2.0.0 Ready to start TLS" the session
  // waits for the glue to run the TLS handshake; every byte that came in
  // after the STARTTLS line was discarded (CVE-2011-0411). The glue calls
  // OnTlsStarted once the handshake is done (or closes the connection).
  bool wants_tls_start() const { return waiting_ == Waiting::kTls && !close_requested_; }
  // Resets every session state (greeting, transaction, AUTH) as RFC 3207
  // section 4.2 requires; the client starts again with EHLO.
  void OnTlsStarted(std::string_view version, std::string_view cipher);
  // Under TLS: the session is encrypted (AUTH may be offered, Received:
  // says ESMTPS).
  bool tls_active() const { return tls_active_; }
  std::string TakeOutput();  // bytes to send now (may be empty)
  // After QUIT's 221 or any 421: the glue closes once the output is sent.
  bool close_requested() const { return close_requested_; }
  bool waiting() const { return waiting_ != Waiting::kNothing; }

  // For logs and tests.
  int error_count() const { return error_count_; }
  bool in_transaction() const { return in_transaction_; }
  bool in_data() const { return phase_ == Phase::kData; }
  size_t pending_input_bytes() const { return pending_input_.size(); }
  // The SMTP AUTH identity once AUTH succeeded, else "" (ETRN's auth= test).
  const std::string& authenticated_user() const { return authenticated_user_; }

 private:
  enum class Phase { kCommand, kData };
  enum class Waiting { kNothing, kStore, kEtrn, kAuth, kTls };

  void Process(std::string_view input);
  void NoteLineProgress(absl::Time now, uint64_t lines_before);
  void ResumePendingInput();
  void KeepPending(std::string_view input);
  size_t ConsumeCommandBytes(std::string_view input);
  size_t ConsumeDataBytes(std::string_view input);
  void HandleLine(const Line& line);
  void OnUnprintableLine(std::string_view text);

  void OnEhlo(std::string_view argument);
  void OnHelo(std::string_view argument);
  void OnMail(std::string_view argument);
  void OnRcpt(std::string_view argument);
  void OnData(std::string_view argument);
  void OnRset(std::string_view argument);
  void OnQuit();
  void OnVrfy(std::string_view argument);
  void OnEtrn(std::string_view argument);
  void OnAuth(std::string_view argument);
  void RunAuthStep(AuthDialogue::Step step);
  void OnStarttls(std::string_view argument);
  void DiscardAfterStarttls(size_t bytes);
  void FinishData();
  // The reply for MAIL parameters, or "" when they are all acceptable.
  std::string CheckMailParameters(std::string_view parameters);
  bool IsOurPostmaster(std::string_view mailbox) const;
  std::string PostmasterAddress() const;
  void Greeted(std::string_view helo_name, bool esmtp);

  void Reply(std::string_view line);
  void ReplyError(std::string_view line);  // counts towards max_errors
  void CloseWith(std::string_view line);   // a 421: the last reply
  void ResetTransaction();

  const SessionConfig config_;  // a copy: sessions may outlive the caller's object
  SessionServices& services_;
  const SocketAddress peer_;
  LineReader line_reader_;
  DataDecoder data_decoder_;

  Phase phase_ = Phase::kCommand;
  Waiting waiting_ = Waiting::kNothing;
  bool processing_ = false;  // inside Process(): results may arrive re-entrantly
  bool close_requested_ = false;
  int error_count_ = 0;

  std::string helo_name_;  // empty until HELO/EHLO
  bool esmtp_ = false;

  // TLS (STARTTLS): ESMTPS in the Received: protocol name.
  bool tls_active_ = false;
  std::string tls_version_;
  std::string tls_cipher_;
  // SMTP AUTH: the dialogue (its lines bypass the command parser while it
  // is active) and the identity it established (ESMTPA; reset by STARTTLS,
  // RFC 3207 section 4.2).
  AuthDialogue auth_;
  std::string authenticated_user_;

  bool in_transaction_ = false;
  std::string mail_from_;
  std::vector<std::string> recipients_;
  absl::flat_hash_set<std::string> recipient_keys_;  // of recipients_, for duplicates
  std::string queue_id_;
  std::string message_data_;

  std::string pending_input_;
  std::string output_;

  // Deadlines (see CheckDeadlines).
  absl::Time last_command_at_;                           // session start or last complete line
  absl::Time line_started_at_ = absl::InfiniteFuture();  // first byte of an unfinished line
  uint64_t lines_completed_ = 0;
  absl::Time data_started_at_;  // the 354
  absl::Time data_last_byte_at_;
  size_t data_bytes_ = 0;  // received since the 354
};

}  // namespace etrnd::smtp
