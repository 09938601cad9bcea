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

QueuedCounts DomainQueueIndex::OneMessage(const DomainEntry& entry) {
  return QueuedCounts{.messages = 1, .held_messages = entry.held ? 1u : 0u};
}

size_t DomainQueueIndex::AddRecipients(std::string_view domain, MessageKey key,
                                       std::span<const uint32_t> recipient_indexes) {
  const NormalizedDomain normalized(domain);
  if (!normalized.valid() || recipient_indexes.empty()) return 0;
  const std::string_view name = normalized.view();
  auto domain_it = domains_.find(name);
  const bool new_domain = domain_it == domains_.end();
  if (new_domain) {
    domain_it = domains_.try_emplace(std::string(name)).first;
    domain_it->second.held = held_names_.contains(name);
  }
  DomainEntry& entry = domain_it->second;
  auto [it, inserted] = entry.messages.try_emplace(key);
  size_t added = 0;
  for (uint32_t index : recipient_indexes) added += it->second.Add(index) ? 1 : 0;
  if (inserted && added == 0) {  // only invalid indexes: undo
    entry.messages.erase(it);
    if (new_domain) domains_.erase(domain_it);
    return 0;
  }
  if (inserted) {
    ++queued_messages_;
    QueuedCounts delta = OneMessage(entry);
    if (new_domain) {
      delta.domains = 1;
      delta.held_domains = entry.held ? 1 : 0;
    }
    subtrees_.Add(name, delta);
  }
  entry.recipients += added;
  queued_recipients_ += added;
  return added;
}

bool DomainQueueIndex::FinishRecipient(std::string_view domain, MessageKey key,
                                       uint32_t recipient_index) {
  const NormalizedDomain normalized(domain);
  if (!normalized.valid()) return false;
  auto domain_it = domains_.find(normalized.view());
  if (domain_it == domains_.end()) return false;
  DomainEntry& entry = domain_it->second;
  auto it = entry.messages.find(key);
  if (it == entry.messages.end() || !it->second.Remove(recipient_index)) return false;
  ETRND_CHECK(entry.recipients > 0 && queued_recipients_ > 0);
  --entry.recipients;
  --queued_recipients_;
  if (it->second.empty()) {
    entry.messages.erase(it);
    ETRND_CHECK(queued_messages_ > 0);
    --queued_messages_;
    QueuedCounts delta = OneMessage(entry);
    if (entry.messages.empty()) {
      delta.domains = 1;
      delta.held_domains = entry.held ? 1 : 0;
    }
    subtrees_.Subtract(normalized.view(), delta);
    if (entry.messages.empty()) domains_.erase(domain_it);
  }
  return true;
}

void DomainQueueIndex::SetHeld(std::string_view domain, bool held) {
  const NormalizedDomain normalized(domain);
  if (!normalized.valid()) return;
  const std::string_view name = normalized.view();
  if (held) {
    held_names_.emplace(name);
  } else {
    held_names_.erase(name);
  }
  auto it = domains_.find(name);
  if (it == domains_.end() || it->second.held == held) return;
  it->second.held = held;
  const QueuedCounts delta{.held_messages = it->second.messages.size(), .held_domains = 1};
  if (held) {
    subtrees_.Add(name, delta);
  } else {
    subtrees_.Subtract(name, delta);
  }
}

bool DomainQueueIndex::IsHeld(std::string_view domain) const {
  const NormalizedDomain normalized(domain);
  return normalized.valid() && held_names_.contains(normalized.view());
}

QueuedCounts DomainQueueIndex::CountsOf(std::string_view domain) const {
  const NormalizedDomain normalized(domain);
  const DomainEntry* entry = normalized.valid() ? Find(normalized.view()) : nullptr;
  if (entry == nullptr) return QueuedCounts{};
  const uint64_t messages = entry->messages.size();
  return QueuedCounts{.messages = messages,
                      .held_messages = entry->held ? messages : 0,
                      .domains = 1,
                      .held_domains = entry->held ? 1u : 0u};
}

QueuedCounts DomainQueueIndex::CountUnder(std::string_view parent) const {
  const NormalizedDomain normalized(parent);
  if (!normalized.valid()) return QueuedCounts{};
  QueuedCounts counts = subtrees_.CountBelow(normalized.view());
  counts += CountsOf(normalized.view());
  return counts;
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
  const std::optional<std::string> unfinished =
      ForEachQueuedDomainUnderAfter(parent, std::nullopt, SIZE_MAX, fn);
  ETRND_CHECK(!unfinished.has_value());
}

std::optional<std::string> DomainQueueIndex::ForEachQueuedDomainUnderAfter(
    std::string_view parent, const std::optional<std::string>& after, size_t limit,
    absl::FunctionRef<void(std::string_view domain, size_t message_count)> fn) const {
  const NormalizedDomain normalized(parent);
  if (!normalized.valid()) return std::nullopt;
  return subtrees_.ForEachUnderAfter(normalized.view(), after, limit, [&](std::string_view domain) {
    const DomainEntry* entry = Find(domain);
    ETRND_CHECK(entry != nullptr);
    fn(domain, entry->messages.size());
  });
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
  size_t bytes =
      sizeof(*this) + TableBytes(domains_) + TableBytes(held_names_) + subtrees_.MemoryBytes();
  for (const auto& [name, entry] : domains_) {
    bytes += StringHeapBytes(name) + TableBytes(entry.messages);
    for (const auto& [key, recipients] : entry.messages) bytes += recipients.HeapBytes();
  }
  for (const std::string& name : held_names_) bytes += StringHeapBytes(name);
  return bytes;
}

}  // namespace etrnd::queue
