// The subtree side of the queue index (ETRN @domain): for each parent of a
// queued domain, what is queued strictly below it, kept up to date in
// O(labels) per change (nothing for a two-label domain, whose only parent is
// a TLD), so a subtree is counted in O(1) whatever it holds. And the queued domains in an order
// where a subtree is one range, so its walk can stop after a slice and resume from a cursor.
//
// Names are the index's (lowercase, no trailing dot). As in the rest of the
// index, a TLD-only parent ("com") is not indexed: its subtree is itself.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/hash/hash.h"
#include "etrnd/common/strings.h"
#include "etrnd/queue/queued_counts.h"

namespace etrnd::queue {

class DomainSubtrees {
 public:
  // `delta.domains` is 1 when `domain` becomes queued (it then joins the
  // walk order), else 0.
  void Add(std::string_view domain, const QueuedCounts& delta);
  // `delta.domains` is 1 when `domain` stops being queued.
  void Subtract(std::string_view domain, const QueuedCounts& delta);

  // Every queued domain strictly below `parent`. O(1): one hash lookup.
  QueuedCounts CountBelow(std::string_view parent) const;

  // Calls fn for at most `limit` queued domains of `parent`'s subtree:
  // `parent` itself first, then the domains below it. `after` is the value
  // the previous call returned (nullopt: from the start; `parent` itself:
  // only the domains below it). Returns the last domain visited, or nullopt
  // when the subtree is done. Domains queued or gone between calls are found
  // or skipped by name, so the index may change between calls (not during).
  std::optional<std::string> ForEachUnderAfter(std::string_view parent,
                                               const std::optional<std::string>& after,
                                               size_t limit,
                                               absl::FunctionRef<void(std::string_view)> fn) const;

  size_t MemoryBytes() const;

 private:
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view name) const {
      return absl::Hash<absl::string_view>{}(AsAbsl(name));
    }
  };
  void Apply(std::string_view domain, const QueuedCounts& delta, bool add);

  // Each parent with two labels or more -> what is queued below it.
  absl::flat_hash_map<std::string, QueuedCounts, NameHash, std::equal_to<>> counts_;
  // Queued domains spelled backwards ("moc.elpmaxe.b"): a subtree is the
  // parent's entry plus the range of names that start with it and a dot.
  absl::btree_set<std::string> reversed_;
};

}  // namespace etrnd::queue
