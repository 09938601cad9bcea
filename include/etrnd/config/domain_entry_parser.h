// One line of the domains table -> one DomainEntry. Kept apart from the table
// so the syntax rules read in one place and are tested line by line.
#pragma once

#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "etrnd/config/domains_table.h"

namespace etrnd::config {

// nullopt for a blank or comment-only line. The error message is the reason
// only ("unknown option 'foo'"); the caller adds "<file>:<line>: ".
absl::StatusOr<std::optional<DomainEntry>> ParseDomainEntryLine(std::string_view line);

}  // namespace etrnd::config
