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

}  // namespace etrnd
