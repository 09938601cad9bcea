#include "etrnd/config/domains_table.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "etrnd/common/strings.h"
#include "etrnd/config/domain_entry_parser.h"
#include "etrnd/config/domain_name.h"

namespace etrnd::config {
namespace {

absl::Status LineError(std::string_view file_name, int line, std::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat(AsAbsl(file_name), ":", line, ": ", AsAbsl(reason)));
}

// Lowercases `domain` without a trailing dot into `buffer`; empty view when the
// name is too long to be any table's domain or has an empty label. No allocation: RCPT calls this.
std::string_view LowerInto(std::string_view domain, std::array<char, kDomainOctetsMax>* buffer) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.size() > buffer->size()) return {};
  for (size_t i = 0; i < domain.size(); ++i) {
    char c = domain[i];
    // An empty label ("a..b", ".a") must not reach a parent entry by accident.
    if (c == '.' && (i == 0 || domain[i - 1] == '.')) return {};
    (*buffer)[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return std::string_view(buffer->data(), domain.size());
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::string contents;
  std::array<char, 65536> chunk;
  while (true) {
    ssize_t n = read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat(path, ": cannot read: ", std::strerror(error)));
    }
    if (n == 0) break;
    if (contents.size() + static_cast<size_t>(n) > kDomainsTableBytesMax) {
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": larger than ", kDomainsTableBytesMax, " bytes"));
    }
    contents.append(chunk.data(), static_cast<size_t>(n));
  }
  close(fd);
  return contents;
}

}  // namespace

std::string DomainEntry::pattern() const { return subdomains_only ? "." + domain : domain; }

bool DomainEntry::AllowsEtrn(const IpAddress& client, std::string_view auth_user) const {
  if (etrn_networks.empty() && auth_users.empty()) return true;
  if (HasAuthUser(auth_user)) return true;
  for (const CidrNetwork& network : etrn_networks) {
    if (network.Contains(client)) return true;
  }
  return false;
}

bool DomainEntry::HasAuthUser(std::string_view auth_user) const {
  if (auth_user.empty()) return false;
  for (const std::string& user : auth_users) {
    if (user == auth_user) return true;
  }
  return false;
}

absl::StatusOr<std::shared_ptr<const DomainsTable>> DomainsTable::LoadFile(
    const std::string& path) {
  auto contents = ReadWholeFile(path);
  if (!contents.ok()) return contents.status();
  return Parse(*contents, path);
}

absl::StatusOr<std::shared_ptr<const DomainsTable>> DomainsTable::Parse(
    std::string_view text, std::string_view file_name) {
  std::vector<DomainEntry> entries;
  int line_number = 0;
  while (!text.empty()) {
    size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;
    auto entry = ParseDomainEntryLine(line);
    if (!entry.ok()) return LineError(file_name, line_number, AsStd(entry.status().message()));
    if (!entry->has_value()) continue;
    (*entry)->line = line_number;
    entries.push_back(**std::move(entry));
  }
  return FromEntries(std::move(entries), file_name);
}

absl::StatusOr<std::shared_ptr<const DomainsTable>> DomainsTable::FromEntries(
    std::vector<DomainEntry> entries, std::string_view file_name) {
  std::shared_ptr<DomainsTable> table(new DomainsTable());
  table->entries_ = std::move(entries);
  if (absl::Status status = table->Index(file_name); !status.ok()) return status;
  return std::shared_ptr<const DomainsTable>(std::move(table));
}

absl::Status DomainsTable::Index(std::string_view file_name) {
  exact_.reserve(entries_.size());
  for (size_t i = 0; i < entries_.size(); ++i) {
    DomainEntry& entry = entries_[i];
    entry.id = static_cast<uint32_t>(i);
    entry.domain = NormalizeDomain(entry.domain);
    entry.queue_name = AsciiLower(entry.queue_name);
    auto& index = entry.subdomains_only ? subdomains_ : exact_;
    auto [it, inserted] = index.try_emplace(entry.domain, entry.id);
    if (!inserted) {
      return LineError(file_name, entry.line,
                       absl::StrCat("duplicate pattern '", entry.pattern(), "' (first on line ",
                                    entries_[it->second].line, ")"));
    }
  }
  for (const DomainEntry& entry : entries_) {
    if (!entry.queue_name.empty()) queues_[entry.queue_name].push_back(&entry);
    std::string_view suffix = entry.domain;
    while (true) {
      within_[std::string(suffix)].push_back(&entry);
      const size_t dot = suffix.find('.');
      if (dot == std::string_view::npos) break;
      suffix.remove_prefix(dot + 1);
    }
  }
  return absl::OkStatus();
}

const DomainEntry* DomainsTable::Match(std::string_view domain) const {
  std::array<char, kDomainOctetsMax> buffer;
  std::string_view name = LowerInto(domain, &buffer);
  if (name.empty()) return nullptr;
  if (auto it = exact_.find(AsAbsl(name)); it != exact_.end()) return &entries_[it->second];
  // Walk up the parents, nearest (most specific) first.
  for (size_t dot = name.find('.'); dot != std::string_view::npos; dot = name.find('.')) {
    name.remove_prefix(dot + 1);
    if (auto it = subdomains_.find(AsAbsl(name)); it != subdomains_.end()) {
      return &entries_[it->second];
    }
  }
  return nullptr;
}

const DomainEntry* DomainsTable::FindSubdomainsEntry(std::string_view domain) const {
  std::array<char, kDomainOctetsMax> buffer;
  std::string_view name = LowerInto(domain, &buffer);
  if (name.empty()) return nullptr;
  auto it = subdomains_.find(AsAbsl(name));
  return it == subdomains_.end() ? nullptr : &entries_[it->second];
}

const std::vector<const DomainEntry*>& DomainsTable::EntriesWithin(std::string_view domain) const {
  static const std::vector<const DomainEntry*> kNone;
  std::array<char, kDomainOctetsMax> buffer;
  std::string_view name = LowerInto(domain, &buffer);
  auto it = within_.find(AsAbsl(name));
  return it == within_.end() ? kNone : it->second;
}

const DomainEntry* DomainsTable::NearestSubdomainsEntryAbove(std::string_view domain) const {
  std::array<char, kDomainOctetsMax> buffer;
  std::string_view name = LowerInto(domain, &buffer);
  for (size_t dot = name.find('.'); dot != std::string_view::npos; dot = name.find('.')) {
    name.remove_prefix(dot + 1);
    if (auto it = subdomains_.find(AsAbsl(name)); it != subdomains_.end()) {
      return &entries_[it->second];
    }
  }
  return nullptr;
}

const std::vector<const DomainEntry*>& DomainsTable::QueueMembers(
    std::string_view queue_name) const {
  static const std::vector<const DomainEntry*> kNone;
  auto it = queues_.find(AsAbsl(AsciiLower(queue_name)));
  return it == queues_.end() ? kNone : it->second;
}

}  // namespace etrnd::config
