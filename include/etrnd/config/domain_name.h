// Syntax of the names the domains table and ETRN share: DNS domain names
// (RFC 1035 "preferred name syntax", letters/digits/hyphen labels) and named
// queue names.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "etrnd/common/protocol_limits.h"

namespace etrnd::config {

using ::etrnd::kDomainOctetsMax;
using ::etrnd::kLabelOctetsMax;
inline constexpr size_t kQueueNameOctetsMax = 64;

// Why a domain name is not valid, or nullptr when it is. `min_labels` is 2
// for fully qualified names (a customer domain), 1 for a suffix such as "test".
// The name must already be without a trailing dot.
const char* DomainNameProblem(std::string_view name, size_t min_labels,
                              size_t octets_max = kDomainOctetsMax);

// Queue names: 1..kQueueNameOctetsMax of letters, digits, '-', '_', '.'.
bool IsValidQueueName(std::string_view name);

// ASCII lowercase copy (names are compared case-insensitively).
std::string AsciiLower(std::string_view text);

// Lowercases ASCII and drops one trailing dot ("Example.COM." -> "example.com").
std::string NormalizeDomain(std::string_view name);

// `domain` equals `root` or is a subdomain of it (both normalized).
bool IsSameOrSubdomain(std::string_view domain, std::string_view root);

}  // namespace etrnd::config
