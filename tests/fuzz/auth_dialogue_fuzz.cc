// libFuzzer harness: the AUTH command dialogue (smtp/auth_command.h) over the
// SASL exchanges, and the password file parser. Byte 0 picks what is
// offered and the verdict; the rest is split into lines: the first is the
// AUTH argument, the others the client's lines. Every reply must be a
// well-formed SMTP reply, 334 only while the dialogue waits for a line, and
// the dialogue must end idle. The whole input is also parsed as a password
// file. CRAM-MD5 credentials are checked (cheap); crypt(3) is not run here.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "etrnd/auth/credential_check.h"
#include "etrnd/auth/password_file.h"
#include "etrnd/smtp/auth_command.h"

namespace {

using etrnd::smtp::AuthDialogue;

constexpr size_t kLinesMax = 64;

void CheckReply(const AuthDialogue::Step& step) {
  const std::string& reply = step.reply;
  if (step.action == AuthDialogue::Action::kVerify) {
    if (!reply.empty()) abort();
    return;
  }
  if (reply.size() < 4 || reply[0] < '2' || reply[0] > '5' || reply[3] != ' ') abort();
  if (reply.find_first_of("\r\n") != std::string::npos) abort();
  const bool challenge = reply.starts_with("334 ");
  if (challenge != (step.action == AuthDialogue::Action::kReply)) abort();
}

std::vector<std::string_view> Lines(std::string_view input) {
  std::vector<std::string_view> lines;
  while (!input.empty() && lines.size() < kLinesMax) {
    const size_t end = input.find('\n');
    lines.push_back(input.substr(0, end));
    if (end == std::string_view::npos) break;
    input.remove_prefix(end + 1);
  }
  return lines;
}

const etrnd::auth::PasswordFile& CramUsers() {
  static const auto file = *etrnd::auth::PasswordFile::Parse(
      "bob:{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56\n", "f");
  return *file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  auto parsed = etrnd::auth::PasswordFile::Parse(input, "fuzz.conf");
  if (!parsed.ok() && !std::string(parsed.status().message()).starts_with("fuzz.conf:")) {
    abort();
  }

  const std::vector<std::string_view> lines = Lines(input);
  if (lines.empty()) return 0;
  AuthDialogue dialogue("mx.fuzz");
  etrnd::smtp::AuthPreconditions preconditions;
  preconditions.offer = {.offered = (control & 1) != 0, .cram_md5 = (control & 2) != 0};
  preconditions.locked_out = (control & 4) != 0;
  AuthDialogue::Step step = dialogue.Start(lines[0], preconditions);
  for (size_t i = 1;; ++i) {
    CheckReply(step);
    if (step.action == AuthDialogue::Action::kVerify) {
      if (!dialogue.verifying()) abort();
      etrnd::auth::SaslCredentials credentials = dialogue.TakeCredentials();
      bool valid = (control & 8) != 0;
      if (credentials.mechanism == etrnd::auth::SaslMechanism::kCramMd5) {
        auto scratch = std::make_unique<etrnd::auth::CryptScratch>();
        valid = etrnd::auth::CheckCredentials(CramUsers(), credentials, *scratch);
      }
      step = dialogue.OnVerdict(valid ? etrnd::smtp::AuthVerdict::kValid
                                      : etrnd::smtp::AuthVerdict::kInvalid);
      continue;
    }
    if (step.action == AuthDialogue::Action::kFinished) break;
    if (!dialogue.active()) abort();
    if (i >= lines.size()) {
      step = dialogue.OnLine("*");  // the client gives up
    } else {
      step = dialogue.OnLine(lines[i]);
    }
  }
  if (dialogue.active() || dialogue.verifying()) abort();
  return 0;
}
