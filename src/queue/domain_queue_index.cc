#include "etrnd/queue/domain_queue_index.h"

#include "etrnd/common/check.h"

namespace etrnd::queue {
namespace {

constexpr uint64_t kFnvOffsetBasis = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;
// Control bytes a SwissTable keeps besides one per slot (cloned group).
constexpr size_t kTableControlOverhead = 16;

template <typename Table>
size_t TableBytes(const Table& table) {
  if (table.capacity() == 0) return 0;
  return table.capacity() * (sizeof(typename Table::value_type) + 1) + kTableControlOverhead;
}

// A B-tree node holds its slots with some slack (nodes are split half full
// and fill as keys arrive): estimated as 4/3 of the slot bytes.
template <typename K, typename V>
size_t TableBytes(const absl::btree_map<K, V>& tree) {
  return tree.size() * sizeof(typename absl::btree_map<K, V>::value_type) * 4 / 3;
}

size_t StringHeapBytes(const std::string& text) {
  return text.capacity() > std::string().capacity() ? text.capacity() + 1 : 0;
}

}  // namespace

size_t ShardForDomain(std::string_view domain, size_t shard_count) {
  if (shard_count <= 1) return 0;
  const NormalizedDomain normalized(domain);
  if (!normalized.valid()) return 0;
  uint64_t hash = kFnvOffsetBasis;
  for (char c : normalized.view()) {
    hash = (hash ^ static_cast<unsigned char>(c)) * kFnvPrime;
  }
  return static_cast<size_t>(hash % shard_count);
}

DomainQueueIndex::DomainQueueIndex() = default;
DomainQueueIndex::~DomainQueueIndex() = default;

const DomainQueueIndex::DomainEntry* DomainQueueIndex::Find(std::string_view lower_domain) const {
  auto it = domains_.find(lower_domain);
  return it == domains_.end() ? nullptr : &it->second;
}

DomainQueueIndex::DomainEntry* DomainQueueIndex::FindOrCreate(std::string_view lower_domain) {
  auto it = domains_.find(lower_domain);
  if (it != domains_.end()) return &it->second;
  it = domains_.try_emplace(std::string(lower_domain)).first;
  ForEachParentSuffix(lower_domain, [this, lower_domain](std::string_view suffix) {
    auto members = below_.find(suffix);
    if (members == below_.end()) members = below_.try_emplace(std::string(suffix)).first;
    members->second.insert(std::string(lower_domain));
  });
  return &it->second;
}

void DomainQueueIndex::EraseDomain(DomainTable::iterator it) {
  const std::string_view name = it->first;
  ForEachParentSuffix(name, [this, name](std::string_view suffix) {
    auto members = below_.find(suffix);
    if (members == below_.end()) return;
    members->second.erase(name);
    if (members->second.empty()) below_.erase(members);
  });
  domains_.erase(it);
}

void DomainQueueIndex::ForEachParentSuffix(std::string_view domain,
                                           absl::FunctionRef<void(std::string_view suffix)> fn) {
  for (size_t dot = domain.find('.'); dot != std::string_view::npos;
       dot = domain.find('.', dot + 1)) {
    const std::string_view suffix = domain.substr(dot + 1);
    if (suffix.find('.') == std::string_view::npos) return;  // TLD only
    fn(suffix);
  }
}

size_t DomainQueueIndex::AddRecipients(std::string_view domain, MessageKey key,
                                       std::span<const uint32_t> recipient_indexes) {
  const NormalizedDomain normalized(domain);
  if (!normalized.valid() || recipient_indexes.empty()) return 0;
  DomainEntry* entry = FindOrCreate(normalized.view());
  auto [it, inserted] = entry->messages.try_emplace(key);
  size_t added = 0;
  for (uint32_t index : recipient_indexes) added += it->second.Add(index) ? 1 : 0;
  if (inserted && added == 0) {  // only invalid indexes: undo
    entry->messages.erase(it);
    if (entry->messages.empty()) EraseDomain(domains_.find(normalized.view()));
    return 0;
  }
  if (inserted) ++queued_messages_;
  entry->recipients += added;
  queued_recipients_ += added;
  return added;
}

bool DomainQueueIndex::FinishRecipient(std::string_view domain, MessageKey key,
                                       uint32_t recipient_index) {
  const NormalizedDomain normalized(domain);
  if (!normalized.valid()) return false;
  auto domain_it = domains_.find(normalized.view());
  if (domain_it == domains_.end()) return false;
  DomainEntry* entry = &domain_it->second;
  auto it = entry->messages.find(key);
  if (it == entry->messages.end() || !it->second.Remove(recipient_index)) return false;
  --entry->recipients;
  --queued_recipients_;
  if (it->second.empty()) {
    entry->messages.erase(it);
    --queued_messages_;
    if (entry->messages.empty()) EraseDomain(domain_it);
  }
  return true;
}

size_t DomainQueueIndex::CountDomain(std::string_view domain) const {
  const NormalizedDomain normalized(domain);
  const DomainEntry* entry = normalized.valid() ? Find(normalized.view()) : nullptr;
  return entry == nullptr ? 0 : entry->messages.size();
}

const RecipientIndexSet* DomainQueueIndex::FindMessage(std::string_view domain,
                                                       const MessageKey& key) const {
  const NormalizedDomain normalized(domain);
  const DomainEntry* entry = normalized.valid() ? Find(normalized.view()) : nullptr;
  if (entry == nullptr) return nullptr;
  auto it = entry->messages.find(key);
  return it == entry->messages.end() ? nullptr : &it->second;
}

size_t DomainQueueIndex::CountRecipients(std::string_view domain) const {
  const NormalizedDomain normalized(domain);
  const DomainEntry* entry = normalized.valid() ? Find(normalized.view()) : nullptr;
  return entry == nullptr ? 0 : entry->recipients;
}

void DomainQueueIndex::ForEachQueuedDomainUnder(
    std::string_view parent,
    absl::FunctionRef<void(std::string_view domain, size_t message_count)> fn) const {
  const NormalizedDomain normalized(parent);
  if (!normalized.valid()) return;
  if (const DomainEntry* entry = Find(normalized.view())) {
    fn(normalized.view(), entry->messages.size());
  }
  auto it = below_.find(normalized.view());
  if (it == below_.end()) return;
  for (const std::string& member : it->second) {
    if (const DomainEntry* entry = Find(member)) fn(member, entry->messages.size());
  }
}

void DomainQueueIndex::ForEachMessage(
    std::string_view domain,
    absl::FunctionRef<void(const MessageKey& key, const RecipientIndexSet& recipients)> fn) const {
  const NormalizedDomain normalized(domain);
  const DomainEntry* entry = normalized.valid() ? Find(normalized.view()) : nullptr;
  if (entry == nullptr) return;
  for (const auto& [key, recipients] : entry->messages) fn(key, recipients);
}

std::optional<MessageKey> DomainQueueIndex::ForEachMessageAfter(
    std::string_view domain, std::optional<MessageKey> after, size_t limit,
    absl::FunctionRef<void(const MessageKey& key, const RecipientIndexSet& recipients)> fn) const {
  const NormalizedDomain normalized(domain);
  const DomainEntry* entry = normalized.valid() ? Find(normalized.view()) : nullptr;
  ETRND_CHECK(limit > 0);  // else the walk could never move on
  if (entry == nullptr) return std::nullopt;
  auto it = after.has_value() ? entry->messages.upper_bound(*after) : entry->messages.begin();
  std::optional<MessageKey> last;
  for (size_t visited = 0; it != entry->messages.end() && visited < limit; ++it, ++visited) {
    fn(it->first, it->second);
    last = it->first;
  }
  if (it == entry->messages.end()) return std::nullopt;
  return last;
}

size_t DomainQueueIndex::MemoryBytes() const {
  size_t bytes = sizeof(*this) + TableBytes(domains_) + TableBytes(below_);
  for (const auto& [name, entry] : domains_) {
    bytes += StringHeapBytes(name) + TableBytes(entry.messages);
    for (const auto& [key, recipients] : entry.messages) bytes += recipients.HeapBytes();
  }
  for (const auto& [suffix, members] : below_) {
    bytes += StringHeapBytes(suffix) + TableBytes(members);
    for (const std::string& member : members) bytes += StringHeapBytes(member);
  }
  return bytes;
}

}  // namespace etrnd::queue
