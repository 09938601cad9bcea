#include "etrnd/queue/domain_subtrees.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "etrnd/common/check.h"
#include "etrnd/queue/normalized_domain.h"

namespace etrnd::queue {
namespace {

std::string Reversed(std::string_view name) { return std::string(name.rbegin(), name.rend()); }

// A SwissTable's bytes: slots, one control byte per slot, a cloned group.
template <typename Table>
size_t TableBytes(const Table& table) {
  constexpr size_t kControlOverhead = 16;
  if (table.capacity() == 0) return 0;
  return table.capacity() * (sizeof(typename Table::value_type) + 1) + kControlOverhead;
}

size_t StringHeapBytes(const std::string& text) {
  return text.capacity() > std::string().capacity() ? text.capacity() + 1 : 0;
}

}  // namespace

void DomainSubtrees::Add(std::string_view domain, const QueuedCounts& delta) {
  ETRND_CHECK(delta.domains <= 1);
  if (delta.domains == 1) ETRND_CHECK(reversed_.insert(Reversed(domain)).second);
  Apply(domain, delta, /*add=*/true);
}

void DomainSubtrees::Subtract(std::string_view domain, const QueuedCounts& delta) {
  ETRND_CHECK(delta.domains <= 1);
  if (delta.domains == 1) ETRND_CHECK(reversed_.erase(Reversed(domain)) == 1);
  Apply(domain, delta, /*add=*/false);
}

void DomainSubtrees::Apply(std::string_view domain, const QueuedCounts& delta, bool add) {
  auto apply_one = [this, &delta, add](std::string_view name) {
    auto it = counts_.find(name);
    if (add) {
      if (it == counts_.end()) it = counts_.try_emplace(std::string(name)).first;
      it->second += delta;
      return;
    }
    ETRND_CHECK(it != counts_.end());
    it->second -= delta;
    if (it->second.empty()) {
      ETRND_CHECK(it->second.messages == 0);  // messages live in queued domains
      counts_.erase(it);
    }
  };
  // Each parent with two labels or more; TLD-only parents are not indexed.
  for (size_t dot = domain.find('.'); dot != std::string_view::npos;
       dot = domain.find('.', dot + 1)) {
    const std::string_view suffix = domain.substr(dot + 1);
    if (suffix.find('.') == std::string_view::npos) return;
    apply_one(suffix);
  }
}

QueuedCounts DomainSubtrees::CountBelow(std::string_view parent) const {
  auto it = counts_.find(parent);
  return it == counts_.end() ? QueuedCounts{} : it->second;
}

std::optional<std::string> DomainSubtrees::ForEachUnderAfter(
    std::string_view parent, const std::optional<std::string>& after, size_t limit,
    absl::FunctionRef<void(std::string_view)> fn) const {
  ETRND_CHECK(limit > 0);  // else the walk could never move on
  std::string prefix = Reversed(parent);
  size_t visited = 0;
  std::optional<std::string> last;
  if (!after.has_value() && reversed_.contains(prefix)) {
    fn(parent);
    ++visited;
    last = std::string(parent);
  }
  if (parent.find('.') == std::string_view::npos) return std::nullopt;  // TLD-only: itself
  if (visited == limit) return last;
  prefix.push_back('.');
  auto it = reversed_.lower_bound(prefix);
  if (after.has_value() && *after != parent) {
    // The cursor is a domain of this subtree, gone or not.
    ETRND_CHECK(after->size() > parent.size() + 1 && absl::EndsWith(*after, AsAbsl(parent)) &&
                (*after)[after->size() - parent.size() - 1] == '.');
    it = reversed_.upper_bound(Reversed(*after));
  }
  char buffer[kDomainBytesMax];
  for (; it != reversed_.end() && absl::StartsWith(*it, prefix) && visited < limit;
       ++it, ++visited) {
    ETRND_CHECK(it->size() <= kDomainBytesMax);
    std::reverse_copy(it->begin(), it->end(), buffer);
    const std::string_view name(buffer, it->size());
    fn(name);
    last = std::string(name);
  }
  if (it == reversed_.end() || !absl::StartsWith(*it, prefix)) return std::nullopt;
  return last;
}

size_t DomainSubtrees::MemoryBytes() const {
  // A B-tree node holds its slots with some slack: estimated as 4/3.
  size_t bytes = TableBytes(counts_) + reversed_.size() * sizeof(std::string) * 4 / 3;
  for (const auto& [name, counts] : counts_) bytes += StringHeapBytes(name);
  for (const std::string& name : reversed_) bytes += StringHeapBytes(name);
  return bytes;
}

}  // namespace etrnd::queue
