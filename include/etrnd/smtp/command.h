// Recognition of SMTP command lines (RFC 5321 section 4.1).
#pragma once

#include <string_view>

namespace etrnd::smtp {

enum class Verb {
  kEhlo,
  kHelo,
  kMail,
  kRcpt,
  kData,
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kHelp,
  kEtrn,
  kAuth,
  kStarttls,  // RFC 3207
  kUnknown,
};

struct Command {
  Verb verb = Verb::kUnknown;
  // Everything after the verb and its separating space, with surrounding
  // spaces removed ("FROM:<a@b.c> SIZE=10" for MAIL).
  std::string_view argument;
};

// Commands are printable US-ASCII (tabs allowed): NUL, other controls and
// 8-bit octets mean binary junk, refused without looking further.
bool IsPrintableCommandLine(std::string_view line);

// Verbs are case-insensitive; a verb must be followed by a space or the end.
Command ParseCommand(std::string_view line);

}  // namespace etrnd::smtp
