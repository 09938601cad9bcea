#include "etrnd/smtp/command.h"

#include <array>
#include <utility>

#include "absl/strings/match.h"
#include "etrnd/common/strings.h"

namespace etrnd::smtp {

namespace {

constexpr std::array<std::pair<std::string_view, Verb>, 13> kVerbs = {{
    {"EHLO", Verb::kEhlo},
    {"HELO", Verb::kHelo},
    {"MAIL", Verb::kMail},
    {"RCPT", Verb::kRcpt},
    {"DATA", Verb::kData},
    {"RSET", Verb::kRset},
    {"NOOP", Verb::kNoop},
    {"QUIT", Verb::kQuit},
    {"VRFY", Verb::kVrfy},
    {"HELP", Verb::kHelp},
    {"ETRN", Verb::kEtrn},
    {"AUTH", Verb::kAuth},
    {"STARTTLS", Verb::kStarttls},
}};

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimBlanks(std::string_view text) {
  while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsBlank(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace

bool IsPrintableCommandLine(std::string_view line) {
  for (char c : line) {
    const auto octet = static_cast<unsigned char>(c);
    if ((octet < 0x20 && c != '\t') || octet >= 0x7f) return false;
  }
  return true;
}

Command ParseCommand(std::string_view line) {
  line = TrimBlanks(line);
  size_t verb_end = 0;
  while (verb_end < line.size() && !IsBlank(line[verb_end])) ++verb_end;
  const std::string_view verb = line.substr(0, verb_end);
  Command command;
  command.argument = TrimBlanks(line.substr(verb_end));
  for (const auto& [name, value] : kVerbs) {
    if (absl::EqualsIgnoreCase(AsAbsl(verb), AsAbsl(name))) {
      command.verb = value;
      return command;
    }
  }
  return command;
}

}  // namespace etrnd::smtp
