// Any bytes as a domains table: parse never crashes; a table that parses
// answers Match() for every entry's own domain consistently.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "etrnd/common/protocol_limits.h"
#include "etrnd/config/domains_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto table = etrnd::config::DomainsTable::Parse(text, "fuzz.conf");
  if (!table.ok()) return 0;
  for (const auto& entry : (*table)->entries()) {
    if (entry.subdomains_only) {
      std::string child = "x." + entry.domain;
      // A child of a name near the limit is not a domain name at all.
      if (child.size() > etrnd::kDomainOctetsMax) continue;
      if ((*table)->Match(child) == nullptr) __builtin_trap();
    } else if ((*table)->Match(entry.domain) != &entry) {
      __builtin_trap();
    }
  }
  return 0;
}
