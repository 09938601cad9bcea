// Protocol limits shared by every part that parses names: one definition
// each, so the SMTP parser, the domains table, the queue index and ETRN
// cannot disagree about what is too long.
#pragma once

#include <cstddef>

namespace etrnd {

// RFC 5321 4.5.3.1.2 (and SPEC 6 for ETRN): a domain is at most 255 octets.
inline constexpr size_t kDomainOctetsMax = 255;
// RFC 1035 2.3.4: a label is at most 63 octets.
inline constexpr size_t kLabelOctetsMax = 63;
// RFC 5321 4.5.3.1.1: a local part is at most 64 octets.
inline constexpr size_t kLocalPartOctetsMax = 64;
// RFC 5321 4.5.3.1.3: a reverse- or forward-path, angle brackets included.
inline constexpr size_t kPathOctetsMax = 256;
// RFC 5321 4.5.3.1.4: a command line, CRLF included.
inline constexpr size_t kCommandLineOctetsMax = 512;
// RFC 5321 4.5.3.1.6: a line of message text, CRLF included.
inline constexpr size_t kTextLineOctetsMax = 1000;

}  // namespace etrnd
