// The customer domains table (SPEC section 4): which recipient domains etrnd
// accepts mail for, where their mail goes, and who may ETRN them.
//
// One entry per line: `<domain-pattern> <next-hop> [option ...]`. Blank lines
// and comments (from a token starting with '#' to the end of the line) are
// ignored. Patterns:
//   example.com    exactly that domain; needs at least two labels.
//   .example.com   every subdomain of example.com, not example.com itself. A
//                  single label is allowed here (".test" for lab setups), a
//                  bare "." is not: there is no catch-all (never an open relay).
// A table is immutable once built; SIGHUP builds a new one and swaps the
// shared_ptr, so readers keep a consistent snapshot.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "etrnd/common/net_address.h"
#include "etrnd/config/next_hop.h"

namespace etrnd::config {

// Bounds on what one table may hold; each is far above a real ISP table.
inline constexpr size_t kDomainsTableBytesMax = size_t{1} << 30;
inline constexpr size_t kDomainsTableLineOctetsMax = 16384;
inline constexpr size_t kEtrnNetworksPerEntryMax = 1024;
inline constexpr size_t kAuthUsersPerEntryMax = 1024;

// Outbound TLS to a domain's next hop (SPEC 4, tls=). Without the option
// STARTTLS is used whenever the next hop offers it.
enum class TlsPolicy {
  kOpportunistic,
  kRequire,  // tls=require: STARTTLS or defer, never in clear
  kVerify,   // tls=verify: also the certificate and the next hop's name
};

struct DomainEntry {
  uint32_t id = 0;               // index in DomainsTable::entries()
  std::string domain;            // lowercase, without the leading dot
  bool subdomains_only = false;  // pattern was ".domain"
  NextHop next_hop;
  std::vector<CidrNetwork> etrn_networks;  // empty = any client may ETRN
  // auth=: SMTP AUTH users who may ETRN (from any address) and ATRN this
  // domain. Case-sensitive, like the password file.
  std::vector<std::string> auth_users;
  std::string queue_name;  // lowercase; "" = none
  bool hold = false;
  TlsPolicy tls = TlsPolicy::kOpportunistic;
  int line = 0;

  std::string pattern() const;  // as written (lowercased)
  bool AllowsEtrnFrom(const IpAddress& client) const { return AllowsEtrn(client, ""); }
  // SPEC 4: neither etrn= nor auth= -> anyone; otherwise a client in etrn=
  // or a session authenticated as a user in auth= (either suffices).
  // auth_user "" = not authenticated.
  bool AllowsEtrn(const IpAddress& client, std::string_view auth_user) const;
  bool HasAuthUser(std::string_view auth_user) const;
};

class DomainsTable {
 public:
  // Errors: InvalidArgument "<file>:<line>: <reason>" for a malformed entry;
  // an unreadable file gives an error whose message starts with the path.
  static absl::StatusOr<std::shared_ptr<const DomainsTable>> LoadFile(const std::string& path);
  static absl::StatusOr<std::shared_ptr<const DomainsTable>> Parse(std::string_view text,
                                                                   std::string_view file_name);

  // Built from already validated entries (ids and domains are normalized
  // here); fails on a duplicate pattern.
  static absl::StatusOr<std::shared_ptr<const DomainsTable>> FromEntries(
      std::vector<DomainEntry> entries, std::string_view file_name);

  DomainsTable(const DomainsTable&) = delete;  // indexes point into entries_
  DomainsTable& operator=(const DomainsTable&) = delete;

  // The entry RCPT uses for this domain: the exact entry, else the nearest
  // ".parent" entry. Case-insensitive, a trailing dot is ignored. O(labels).
  // nullptr = not served.
  const DomainEntry* Match(std::string_view domain) const;
  // The entry whose pattern is exactly ".domain", or nullptr.
  const DomainEntry* FindSubdomainsEntry(std::string_view domain) const;
  // The entries with queue=queue_name (case-insensitive); empty if none.
  const std::vector<const DomainEntry*>& QueueMembers(std::string_view queue_name) const;
  // The entries whose pattern's domain is `domain` or below it (both
  // "domain" and ".domain" patterns), in table order; empty if none. For
  // ETRN @domain's counts, which add up what each such entry matches.
  const std::vector<const DomainEntry*>& EntriesWithin(std::string_view domain) const;
  // The nearest ".parent" entry strictly above `domain`: what Match() falls
  // back to for `domain` and its subdomains that no entry within it matches.
  const DomainEntry* NearestSubdomainsEntryAbove(std::string_view domain) const;
  const std::vector<DomainEntry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  DomainsTable() = default;
  absl::Status Index(std::string_view file_name);

  std::vector<DomainEntry> entries_;
  absl::flat_hash_map<std::string, uint32_t> exact_;       // "example.com" -> id
  absl::flat_hash_map<std::string, uint32_t> subdomains_;  // ".example.com" -> id (key without dot)
  absl::flat_hash_map<std::string, std::vector<const DomainEntry*>> queues_;
  // Every suffix of an entry's domain -> the entries at or below it.
  absl::flat_hash_map<std::string, std::vector<const DomainEntry*>> within_;
};

}  // namespace etrnd::config
