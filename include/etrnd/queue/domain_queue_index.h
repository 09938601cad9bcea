// One shard of the domain -> queued messages index that answers ETRN.
// Single-threaded: the server runs one shard per reactor core and routes each
// domain to ShardForDomain(domain, shards). Every count is O(1) whatever the
// queue size, a subtree's too (ETRN @example.com: aggregates per parent); a
// subtree walk touches only the queued domains under the parent, in slices.
//
// A message is "queued for a domain" while at least one of its recipients in
// that domain is unfinished; a message with recipients in several domains is
// referenced by each of them and finished per recipient.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/hash/hash.h"
#include "etrnd/common/strings.h"
#include "etrnd/queue/domain_subtrees.h"
#include "etrnd/queue/message_key.h"
#include "etrnd/queue/normalized_domain.h"
#include "etrnd/queue/queued_counts.h"
#include "etrnd/queue/recipient_index_set.h"

namespace etrnd::queue {

// Which shard owns `domain` (case-insensitive; a trailing dot is ignored;
// invalid domains go to shard 0).
// Stable across processes (FNV-1a), so tests and tools agree with the server.
size_t ShardForDomain(std::string_view domain, size_t shard_count);

class DomainQueueIndex {
 public:
  // Heterogeneous lookup with std::string_view (Debian's absl::string_view is
  // a different type, so the default string hash does not apply).
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view name) const {
      return absl::Hash<absl::string_view>{}(AsAbsl(name));
    }
  };

  DomainQueueIndex();
  DomainQueueIndex(const DomainQueueIndex&) = delete;
  DomainQueueIndex& operator=(const DomainQueueIndex&) = delete;
  ~DomainQueueIndex();

  // Queues the message's recipients (indexes into its RCPT list) in `domain`.
  // Returns how many were new; 0 for an invalid domain.
  size_t AddRecipients(std::string_view domain, MessageKey key,
                       std::span<const uint32_t> recipient_indexes);
  // Finishes one recipient; the message leaves the domain with its last one.
  // False if it was not queued.
  bool FinishRecipient(std::string_view domain, MessageKey key, uint32_t recipient_index);

  // Queued messages for exactly this domain. O(1).
  size_t CountDomain(std::string_view domain) const;
  // Unfinished recipients in this domain. O(1).
  size_t CountRecipients(std::string_view domain) const;

  // This domain's counts (held ones count as held). O(1).
  QueuedCounts CountsOf(std::string_view domain) const;
  // `parent` and every queued domain below it (a TLD-only parent: itself).
  // O(labels), whatever the subtree holds.
  QueuedCounts CountUnder(std::string_view parent) const;

  // Calls fn(domain, message_count) for `parent` (if queued) and every queued
  // domain below it. Cost: the number of domains visited.
  void ForEachQueuedDomainUnder(
      std::string_view parent,
      absl::FunctionRef<void(std::string_view domain, size_t message_count)> fn) const;
  // The same walk spread over loop turns: at most `limit` domains after
  // `after`, see DomainSubtrees::ForEachUnderAfter (pass `parent` itself as
  // `after` to skip it). Returns the cursor for the next call, or nullopt.
  std::optional<std::string> ForEachQueuedDomainUnderAfter(
      std::string_view parent, const std::optional<std::string>& after, size_t limit,
      absl::FunctionRef<void(std::string_view domain, size_t message_count)> fn) const;

  // Operator holds (etrnctl hold): a held domain's messages count as held in
  // every aggregate. Names need not be queued; they are kept until released.
  void SetHeld(std::string_view domain, bool held);
  bool IsHeld(std::string_view domain) const;
  size_t held_count() const { return held_names_.size(); }

  // Calls fn(key, recipient indexes queued in this domain) for every queued
  // message of the domain (the flush). The index must not change meanwhile.
  void ForEachMessage(
      std::string_view domain,
      absl::FunctionRef<void(const MessageKey& key, const RecipientIndexSet& recipients)> fn) const;
  // The same walk spread over loop turns: at most `limit` messages with keys
  // after `after` (from the first when nullopt), in spool order. Returns the
  // last key visited, or nullopt when the walk is over. Messages added or
  // finished between calls are found or skipped by key, so the index may
  // change between calls (not during one).
  std::optional<MessageKey> ForEachMessageAfter(
      std::string_view domain, std::optional<MessageKey> after, size_t limit,
      absl::FunctionRef<void(const MessageKey& key, const RecipientIndexSet& recipients)> fn) const;
  // The message's recipients still queued in `domain`, or nullptr.
  const RecipientIndexSet* FindMessage(std::string_view domain, const MessageKey& key) const;

  size_t domains_count() const { return domains_.size(); }
  // Sum over domains of queued messages (a message queued for two domains
  // counts twice).
  size_t queued_messages_count() const { return queued_messages_; }
  size_t queued_recipients_count() const { return queued_recipients_; }
  // Bytes held, estimated from container capacities. O(domains + messages):
  // for reporting, not for the hot path.
  size_t MemoryBytes() const;

 private:
  // Lives inline in the domain table's slot: a count lookup touches only the
  // table (no pointer chase), which matters with 1e5+ domains.
  struct DomainEntry {
    // Ordered so a flush can resume its walk by key across loop turns.
    absl::btree_map<MessageKey, RecipientIndexSet> messages;
    size_t recipients = 0;  // unfinished, over all messages
    bool held = false;      // in held_names_
  };
  using NameEq = std::equal_to<>;
  using DomainTable = absl::flat_hash_map<std::string, DomainEntry, NameHash, NameEq>;
  using NameSet = absl::flat_hash_set<std::string, NameHash, NameEq>;

  const DomainEntry* Find(std::string_view lower_domain) const;
  // The message counts one message of this domain adds to its subtrees.
  static QueuedCounts OneMessage(const DomainEntry& entry);

  DomainTable domains_;
  DomainSubtrees subtrees_;
  NameSet held_names_;
  size_t queued_messages_ = 0;
  size_t queued_recipients_ = 0;
};

}  // namespace etrnd::queue
