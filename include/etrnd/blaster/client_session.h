// The blaster's SMTP client: a thin layer over smtp::ClientSession (the one
// SMTP client of etrnd) that adds ETRN and turns per-recipient outcomes into
// the blaster's per-transaction results. It is fed the server's bytes and
// asked to start messages, ETRNs or QUIT, and answers with bytes to send and
// results. It never touches a socket nor TLS (the worker does), so every
// protocol path is unit-tested with canned replies.
//
// With PIPELINING (RFC 2920) a message goes out as MAIL + RCPTs + DATA in one
// send, then the content after 354; without it, one command per reply.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "etrnd/smtp/client_session.h"

namespace etrnd::blaster {

struct ClientSessionConfig {
  std::string helo_name = "blaster.invalid";
  bool use_pipelining = true;  // only when the server offers it
  // STARTTLS on every connection; a server that does not offer it or
  // refuses it ends the session with the error "tls".
  bool starttls = false;
  // AUTH PLAIN after EHLO (after TLS with starttls) when auth_user is set.
  std::string auth_user = {};
  std::string auth_password = {};
};

// Result of one message or ETRN.
struct TransactionResult {
  enum class Kind { kMessage, kEtrn };
  Kind kind = Kind::kMessage;
  bool ok = false;
  // When !ok: the deciding reply code ("550") or "connection", "timeout",
  // "protocol", "tls".
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
  // Run the TLS handshake once sends are written, then call OnTlsStarted()
  // (or OnTlsFailed()).
  bool start_tls = false;
  // An error outside any transaction (greeting or EHLO refused, 421 while
  // idle, unparsable reply, AUTH refused): the key to count it under.
  std::string session_error;

  void Clear() { *this = ClientActions(); }
};

class ClientSession {
 public:
  explicit ClientSession(ClientSessionConfig config);

  // Server bytes (plaintext), in arrival order.
  void OnReceive(std::string_view bytes, ClientActions* actions);
  // The connection ended (peer close, error, timeout): a transaction in
  // flight fails with reason.
  void OnConnectionLost(std::string_view reason, ClientActions* actions);
  // After actions->start_tls: the handshake is done, or it failed.
  void OnTlsStarted(ClientActions* actions);
  void OnTlsFailed(std::string_view why, ClientActions* actions);

  // Only when idle. content is the message as generated (unstuffed, CRLF
  // lines); the session stuffs it.
  void StartMessage(std::string_view mail_from, const std::vector<std::string>& recipients,
                    std::string_view content, ClientActions* actions);
  void StartEtrn(std::string_view argument, ClientActions* actions);
  void Quit(ClientActions* actions);

  bool idle() const { return !closed_ && core_.idle_waiting_for_more(); }
  bool closed() const { return closed_; }
  bool pipelining() const { return core_.pipelining(); }
  bool tls_active() const { return core_.tls_active(); }
  // Replies (or the TLS handshake) still expected for what has been sent.
  bool awaiting_reply() const { return !closed_ && !core_.idle_waiting_for_more(); }

 private:
  // Turns what the core produced during one call into *actions.
  void Collect(bool was_idle, ClientActions* actions);
  TransactionResult MessageResult() const;
  // The key a failed session counts under ("421", "protocol", ...).
  std::string FailureKey() const;

  smtp::ClientSession core_;
  bool closed_ = false;
  std::string lost_reason_ = "connection";
  uint64_t next_token_ = 0;
  // The message in flight: its content (the core borrows it until the
  // message ended) and the outcomes of its recipients so far.
  std::string content_;
  std::vector<smtp::RecipientOutcome> outcomes_;
  bool etrn_in_flight_ = false;
};

}  // namespace etrnd::blaster
