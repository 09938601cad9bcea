// The example domains table (docs/examples/domains.conf) compiled into the
// binary: etrnd starts on it when --domains_file is not given.
#pragma once

#include <string_view>

namespace etrnd::server {

inline constexpr std::string_view kDefaultDomainsFileName = "<embedded docs/examples/domains.conf>";
std::string_view EmbeddedDefaultDomains();

}  // namespace etrnd::server
