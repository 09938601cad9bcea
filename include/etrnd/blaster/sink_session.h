// The sink's SMTP server side, as a pure state machine: bytes in, replies
// out, accepted messages handed back (unstuffed, byte-exact). Accepts any
// mail, pipelined or not; can refuse a chosen fraction of RCPTs or messages
// with a chosen code, to test how a sender handles refusals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "etrnd/blaster/fail_schedule.h"

namespace etrnd::blaster {

struct SinkSessionConfig {
  std::string hostname = "blaster-sink.invalid";
  size_t max_message_bytes = 64 << 20;  // advertised in SIZE
  int rcpt_fail_code = 0;               // 0 = never refuse RCPT
  int data_fail_code = 0;               // 0 = never refuse at end of DATA
  bool keep_content = false;            // only needed to store messages
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
  // A data "line" longer than this is consumed without waiting for its end.
  static constexpr size_t kMaxPendingDataBytes = 64 * 1024;

  // The schedules are shared by the sessions of one thread; null = never.
  SinkSession(const SinkSessionConfig& config, FailSchedule* rcpt_failures,
              FailSchedule* data_failures);

  std::string Greeting() const;
  // Appends replies to *output and accepted messages to *accepted. Returns
  // false once the session is over (QUIT): close after sending *output.
  bool OnReceive(std::string_view bytes, std::string* output,
                 std::vector<ReceivedMessage>* accepted);

 private:
  bool HandleCommand(std::string_view line, std::string* output);
  void HandleMail(std::string_view argument, std::string* output);
  void HandleRcpt(std::string_view argument, std::string* output);
  void HandleData(std::string* output);
  // Consumes DATA bytes from buffer_ at *position; true when the end was seen.
  bool ConsumeData(size_t* position);
  void AppendContent(std::string_view bytes);
  void FinishData(std::string* output, std::vector<ReceivedMessage>* accepted);
  void ResetTransaction();

  const SinkSessionConfig& config_;
  FailSchedule* rcpt_failures_;
  FailSchedule* data_failures_;

  std::string buffer_;
  bool in_data_ = false;
  bool data_line_start_ = true;  // the next data byte starts a line
  bool data_after_crlf_ = true;  // and the line before ended with CRLF
  bool skipping_long_line_ = false;
  bool has_mail_ = false;
  ReceivedMessage message_;
};

}  // namespace etrnd::blaster
