#include "etrnd/config/domain_entry_parser.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "etrnd/auth/password_file.h"
#include "etrnd/common/strings.h"
#include "etrnd/config/domain_name.h"
#include "etrnd/config/public_suffix.h"

namespace etrnd::config {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }

// Whitespace-separated tokens up to a token that starts a comment.
std::vector<std::string_view> Tokenize(std::string_view line) {
  std::vector<std::string_view> tokens;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    if (i == line.size() || line[i] == '#') break;
    size_t start = i;
    while (i < line.size() && !IsBlank(line[i])) ++i;
    tokens.push_back(line.substr(start, i - start));
  }
  return tokens;
}

absl::Status Invalid(std::string reason) { return absl::InvalidArgumentError(std::move(reason)); }

absl::Status ParsePattern(std::string_view pattern, DomainEntry* entry) {
  entry->subdomains_only = !pattern.empty() && pattern.front() == '.';
  std::string_view name = entry->subdomains_only ? pattern.substr(1) : pattern;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);  // "example.com." is absolute
  entry->domain = AsciiLower(name);
  size_t min_labels = entry->subdomains_only ? 1 : 2;
  if (const char* problem = DomainNameProblem(entry->domain, min_labels)) {
    return Invalid(absl::StrCat("bad domain pattern '", AsAbsl(pattern), "': ", problem));
  }
  // ".com" would relay for every .com domain; "co.uk" is nobody's customer.
  if (IsPublicSuffix(entry->domain)) {
    return Invalid(absl::StrCat("bad domain pattern '", AsAbsl(pattern),
                                "': a public suffix (Public Suffix List): anyone can register "
                                "below it"));
  }
  return absl::OkStatus();
}

absl::Status ParseEtrnNetworks(std::string_view value, DomainEntry* entry) {
  if (value.empty()) return Invalid("bad CIDR '' in etrn=: empty list");
  while (true) {
    size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    auto network = CidrNetwork::Parse(item);
    if (!network.ok()) return Invalid(absl::StrCat("bad CIDR '", AsAbsl(item), "' in etrn="));
    // "10.0.0.1/8" is most likely a typo for a host or a narrower network.
    if (network->HasHostBits()) {
      return Invalid(absl::StrCat("bad CIDR '", AsAbsl(item),
                                  "' in etrn=: host bits set (did you mean ",
                                  network->WithoutHostBits().ToString(), "?)"));
    }
    if (entry->etrn_networks.size() == kEtrnNetworksPerEntryMax) {
      return Invalid(absl::StrCat("more than ", kEtrnNetworksPerEntryMax, " networks in etrn="));
    }
    entry->etrn_networks.push_back(*network);
    if (comma == std::string_view::npos) return absl::OkStatus();
    value.remove_prefix(comma + 1);
  }
}

// auth=USER[,USER...]: names as in the --auth_file (case-sensitive).
absl::Status ParseAuthUsers(std::string_view value, DomainEntry* entry) {
  if (!entry->auth_users.empty()) return Invalid("duplicate option 'auth='");
  while (true) {
    const size_t comma = value.find(',');
    const std::string_view user = value.substr(0, comma);
    if (!auth::IsValidUserName(user)) {
      return Invalid(absl::StrCat("bad user name '", AsAbsl(user), "' in auth="));
    }
    if (entry->auth_users.size() == kAuthUsersPerEntryMax) {
      return Invalid(absl::StrCat("more than ", kAuthUsersPerEntryMax, " users in auth="));
    }
    entry->auth_users.emplace_back(user);
    if (comma == std::string_view::npos) return absl::OkStatus();
    value.remove_prefix(comma + 1);
  }
}

absl::Status ParseTlsPolicy(std::string_view value, DomainEntry* entry) {
  if (value == "require") {
    entry->tls = TlsPolicy::kRequire;
  } else if (value == "verify") {
    entry->tls = TlsPolicy::kVerify;
  } else {
    return Invalid(absl::StrCat("bad tls='", AsAbsl(value), "' (require or verify)"));
  }
  return absl::OkStatus();
}

absl::Status ParseOption(std::string_view option, DomainEntry* entry) {
  std::string lower = AsciiLower(option);  // options and queue names are case-insensitive
  std::string_view text = lower;
  if (text == "hold") {
    entry->hold = true;
    return absl::OkStatus();
  }
  if (text.starts_with("etrn=")) return ParseEtrnNetworks(option.substr(5), entry);
  if (text.starts_with("auth=")) return ParseAuthUsers(option.substr(5), entry);
  if (text.starts_with("tls=")) return ParseTlsPolicy(text.substr(4), entry);
  if (text.starts_with("queue=")) {
    std::string_view name = text.substr(6);
    if (!entry->queue_name.empty()) return Invalid("duplicate option 'queue='");
    if (!IsValidQueueName(name)) {
      return Invalid(absl::StrCat("bad queue name '", AsAbsl(option.substr(6)),
                                  "' (letters, digits, '-', '_', '.')"));
    }
    entry->queue_name = std::string(name);
    return absl::OkStatus();
  }
  return Invalid(absl::StrCat("unknown option '", AsAbsl(option), "'"));
}

}  // namespace

absl::StatusOr<std::optional<DomainEntry>> ParseDomainEntryLine(std::string_view line) {
  if (line.size() > kDomainsTableLineOctetsMax) {
    return Invalid(absl::StrCat("line longer than ", kDomainsTableLineOctetsMax, " octets"));
  }
  std::vector<std::string_view> tokens = Tokenize(line);
  if (tokens.empty()) return std::optional<DomainEntry>();
  DomainEntry entry;
  if (absl::Status status = ParsePattern(tokens[0], &entry); !status.ok()) return status;
  if (tokens.size() < 2) {
    return Invalid(absl::StrCat("missing next hop after '", AsAbsl(tokens[0]), "'"));
  }
  auto next_hop = ParseNextHop(tokens[1]);
  if (!next_hop.ok()) return next_hop.status();
  entry.next_hop = *std::move(next_hop);
  for (size_t i = 2; i < tokens.size(); ++i) {
    if (absl::Status status = ParseOption(tokens[i], &entry); !status.ok()) return status;
  }
  return std::optional<DomainEntry>(std::move(entry));
}

}  // namespace etrnd::config
