// The sink's SMTP server side, as a pure state machine: bytes in, replies
// out, accepted messages handed back (unstuffed, byte-exact). Accepts any
// mail, pipelined or not; can refuse a chosen fraction of RCPTs or messages
// with a chosen code, to test how a sender handles refusals. Frames command
// lines and decodes DATA with etrnd's own smtp::LineReader and
// smtp::DataDecoder, so content is judged as etrnd judges it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "etrnd/blaster/fail_schedule.h"
#include "etrnd/smtp/data_decoder.h"
#include "etrnd/smtp/line_reader.h"

namespace etrnd::blaster {

struct SinkSessionConfig {
  std::string hostname = "blaster-sink.invalid";
  size_t max_message_bytes = 64 << 20;  // advertised in SIZE
  int rcpt_fail_code = 0;               // 0 = never refuse RCPT
  int data_fail_code = 0;               // 0 = never refuse at end of DATA
  bool keep_content = false;            // only needed to store messages
  // Offer STARTTLS (the runner has a server TLS context).
  bool starttls = false;
  // Offer AUTH PLAIN and require it before MAIL when auth_user is set.
  std::string auth_user = {};
  std::string auth_password = {};
};

struct ReceivedMessage {
  std::string mail_from;
  std::vector<std::string> recipients;  // the accepted ones
  uint64_t bytes = 0;                   // content size after unstuffing
  std::string content;                  // when keep_content
};

class SinkSession {
 public:
  static constexpr size_t kMaxCommandLineBytes = 4096;
  static constexpr size_t kMaxRecipients = 10000;
  // Longer content lines are refused at the end of data (lenient next to
  // RFC 5321's 1000: the sink measures senders, it does not police them).
  static constexpr size_t kMaxDataLineBytes = 64 * 1024;

  // The schedules are shared by the sessions of one thread; null = never.
  SinkSession(const SinkSessionConfig& config, FailSchedule* rcpt_failures,
              FailSchedule* data_failures);

  std::string Greeting() const;
  // Appends replies to *output and accepted messages to *accepted. Returns
  // false once the session is over (QUIT): close after sending *output.
  bool OnReceive(std::string_view bytes, std::string* output,
                 std::vector<ReceivedMessage>* accepted);
  // After "220 Ready to start TLS" went into the output: the runner starts
  // the TLS handshake once it is sent. Input that followed STARTTLS in the
  // same read was dropped (RFC 3207 section 4.2).
  bool wants_tls_start() const { return wants_tls_start_; }
  // The handshake is done: the session starts over (RFC 3207 section 4.2).
  void OnTlsStarted();

 private:
  bool HandleCommand(std::string_view line, std::string* output);
  // Consumes command bytes or DATA bytes; returns how many.
  size_t ConsumeCommand(std::string_view bytes, std::string* output, bool* open);
  size_t ConsumeData(std::string_view bytes, std::string* output,
                     std::vector<ReceivedMessage>* accepted);
  void HandleMail(std::string_view argument, std::string* output);
  void HandleRcpt(std::string_view argument, std::string* output);
  void HandleData(std::string* output);
  void HandleStartTls(std::string* output);
  void HandleAuth(std::string_view argument, std::string* output);
  void FinishData(std::string* output, std::vector<ReceivedMessage>* accepted);
  void ResetTransaction();

  const SinkSessionConfig& config_;
  FailSchedule* rcpt_failures_;
  FailSchedule* data_failures_;

  smtp::LineReader line_reader_{kMaxCommandLineBytes};
  smtp::DataDecoder data_decoder_;
  std::string discarded_content_;  // decoder output when content is not kept
  bool in_data_ = false;
  bool has_mail_ = false;
  bool wants_tls_start_ = false;
  bool tls_active_ = false;
  bool authenticated_ = false;
  ReceivedMessage message_;
};

}  // namespace etrnd::blaster
