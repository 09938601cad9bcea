// Public suffixes (".com", ".co.uk"): names under which anyone can register a
// domain. A table pattern that is one would make etrnd relay for every
// domain below it, so the table parser refuses them.
#pragma once

#include <string_view>

namespace etrnd::config {

// True when `domain` (lowercase, no leading or trailing dot) is a public
// suffix in the ICANN section of the Public Suffix List, read through libpsl:
// the system's list if it is newer than the one built into libpsl, else the
// built-in one. The implicit "*" rule does not apply, so a TLD outside the
// list ("test", "localhost") is not a public suffix: lab names keep working.
// The private section (".blogspot.com") is not consulted: its suffixes belong
// to companies that may well run etrnd for their own subdomains.
// Thread-safe; the list is loaded once per process.
bool IsPublicSuffix(std::string_view domain);

}  // namespace etrnd::config
