#include "etrnd/control/holds_file.h"

#include <algorithm>

#include "absl/strings/str_split.h"
#include "etrnd/common/strings.h"
#include "etrnd/config/domain_name.h"

namespace etrnd::control {

std::string EncodeHolds(std::vector<std::string> domains) {
  std::sort(domains.begin(), domains.end());
  domains.erase(std::unique(domains.begin(), domains.end()), domains.end());
  std::string text(kHoldsFileFirstLine);
  text += '\n';
  for (const std::string& domain : domains) {
    text += domain;
    text += '\n';
  }
  return text;
}

absl::StatusOr<std::vector<std::string>> ParseHolds(std::string_view text) {
  std::vector<std::string> domains;
  size_t line_number = 0;
  for (absl::string_view absl_line : absl::StrSplit(AsAbsl(text), '\n')) {
    std::string_view line = AsStd(absl_line);
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    std::string domain = config::NormalizeDomain(line);
    if (config::DomainNameProblem(domain, 2) != nullptr) {
      return absl::InvalidArgumentError("holds file line " + std::to_string(line_number) +
                                        ": not a domain: " + std::string(line));
    }
    if (domains.size() >= kHoldsMax) {
      return absl::InvalidArgumentError("holds file: more than " + std::to_string(kHoldsMax) +
                                        " domains");
    }
    domains.push_back(std::move(domain));
  }
  std::sort(domains.begin(), domains.end());
  domains.erase(std::unique(domains.begin(), domains.end()), domains.end());
  return domains;
}

}  // namespace etrnd::control
