// The server side of an ODMR port (RFC 2645) before the turn, as a pure
// state machine: EHLO, AUTH, ATRN, QUIT (and STARTTLS when offered); every
// other command is 502. It never touches a socket, a password or the queue:
// AUTH exchanges and the ATRN decision are requests the glue answers (the
// session reads no further command until it has). After the 250 to ATRN the
// session is over and the glue reverses the connection (etrnd becomes the
// SMTP client on it).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "etrnd/common/protocol_limits.h"
#include "etrnd/smtp/line_reader.h"

namespace etrnd::smtp {

struct OdmrConfig {
  std::string hostname;
  // As advertised after "AUTH "; "" = no AUTH offered (no --auth_file).
  std::string auth_mechanisms = "CRAM-MD5 PLAIN LOGIN";
  bool starttls = false;   // advertise STARTTLS (TLS configured, not yet in TLS)
  size_t errors_max = 20;  // bad commands before 421 and close
  size_t max_line_bytes = kCommandLineOctetsMax;
};

// Input received while a request waits for the glue is kept up to this
// many bytes (a pipelined burst); beyond it the session is closed with 421.
inline constexpr size_t kOdmrHeldInputMax = 4096;

struct OdmrRequest {
  enum class Kind {
    kAuth,          // argument: "MECHANISM [initial-response]"
    kAuthResponse,  // argument: the client's line after a 334 challenge
    kAtrn,          // argument: the domain list, maybe empty (user() is set)
    kStartTls,      // "220 2.0.0 Ready to start TLS" is already in the output
  };
  Kind kind;
  std::string argument;
};

class OdmrSession {
 public:
  explicit OdmrSession(OdmrConfig config);

  void Start();  // the 220 greeting
  void OnBytes(std::string_view bytes);
  // The request waiting for the glue, once (then waiting() stays true until
  // it is answered with one of the calls below).
  std::optional<OdmrRequest> TakeRequest();

  // AUTH answers.
  // A challenge ("334 <base64>"): the client's next line is a kAuthResponse.
  void AuthContinue(std::string_view reply_line);
  void AuthSucceeded(std::string user);          // 235
  void AuthFailed(std::string_view reply_line);  // 535, 454, 501, 504 ... (no CRLF)
  // ATRN answer: a refusal (450, 453, 501, 4xx), or the 250 when reversing.
  void AtrnAnswered(std::string_view reply_line, bool reversing);
  // STARTTLS finished its handshake: everything is reset (RFC 3207), and the
  // bytes pipelined behind STARTTLS are dropped.
  // `auth_mechanisms`: what EHLO offers from now on (more under TLS).
  void StartTlsDone(std::string auth_mechanisms);
  void OnTimeout();   // 421 and close
  void OnShutdown();  // 421 and close

  std::string TakeOutput();
  bool waiting() const { return waiting_; }
  bool close_requested() const { return close_requested_; }
  // The 250 to ATRN was sent: the connection belongs to the turn now.
  bool reversing() const { return reversing_; }
  bool authenticated() const { return user_.has_value(); }
  const std::string& user() const;

 private:
  void ProcessInput();
  void HandleLine(std::string_view line, bool bare_lf);
  void HandleCommand(std::string_view line);
  void Reply(std::string_view line);
  void Error(std::string_view line);  // counts towards errors_max
  void Close(std::string_view line);
  void Request(OdmrRequest::Kind kind, std::string_view argument);

  OdmrConfig config_;
  LineReader reader_;
  std::string held_input_;  // bytes received while waiting()
  std::string output_;
  std::optional<OdmrRequest> request_;
  std::optional<std::string> user_;
  bool greeted_ = false;  // EHLO seen since the start (or since TLS)
  bool in_auth_exchange_ = false;
  bool waiting_ = false;
  bool close_requested_ = false;
  bool reversing_ = false;
  size_t errors_ = 0;
};

}  // namespace etrnd::smtp
