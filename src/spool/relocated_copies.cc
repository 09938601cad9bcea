#include "etrnd/spool/relocated_copies.h"

#include <string>
#include <string_view>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace etrnd::spool {
namespace {

bool Before(const RecordLocation& a, const RecordLocation& b) {
  return std::tie(a.core, a.segment_id, a.offset) < std::tie(b.core, b.segment_id, b.offset);
}

void SetFinished(RecoveredMessage& message, RecoveredRecipient& recipient, bool finished,
                 uint64_t* changed) {
  if (static_cast<bool>(recipient.finished) == finished) return;
  recipient.finished = finished;
  if (finished) {
    --message.live_recipients;
    ++*changed;
  } else {
    ++message.live_recipients;
  }
}

// Two recipients of one copy with the same 32-bit address hash: addresses
// cannot be told apart, so no copy's recipient may be dropped on the
// strength of another's.
bool HashesCollide(const std::vector<RecoveredMessage>& messages,
                   const std::vector<RecoveredRecipient>& all_recipients,
                   const std::vector<size_t>& copies) {
  for (size_t i : copies) {
    const RecoveredMessage& copy = messages[i];
    absl::flat_hash_set<uint32_t> seen;
    for (uint32_t r = 0; r < copy.recipient_count; ++r) {
      if (!seen.insert(all_recipients[copy.first_recipient + r].address_hash).second) return true;
    }
  }
  return false;
}

// The collision fallback: every recipient that only a kMoved finished is
// live again in its copy. Some are delivered twice; none is lost.
void ReviveMoved(std::vector<RecoveredMessage>& messages,
                 std::vector<RecoveredRecipient>& all_recipients, const std::vector<size_t>& copies,
                 MovedRecipients* moved) {
  uint64_t unused = 0;
  for (size_t i : copies) {
    RecoveredMessage& copy = messages[i];
    for (uint32_t r = 0; r < copy.recipient_count; ++r) {
      if (moved->erase(MovedRecipient{i, r}) == 0) continue;
      SetFinished(copy, all_recipients[copy.first_recipient + r], false, &unused);
    }
  }
}

uint64_t ResolveGroup(std::vector<RecoveredMessage>& messages,
                      std::vector<RecoveredRecipient>& all_recipients,
                      const std::vector<size_t>& copies, MovedRecipients* moved) {
  if (HashesCollide(messages, all_recipients, copies)) {
    ReviveMoved(messages, all_recipients, copies, moved);
    return 0;
  }
  // Per recipient address: where it is still live, and whether any copy
  // finished it for real (delivered, bounced, deleted: not moved).
  struct Recipient {
    size_t newest_live = SIZE_MAX;
    size_t newest_any = SIZE_MAX;
    bool done = false;
  };
  absl::flat_hash_map<uint32_t, Recipient> recipients;  // by address hash
  auto newer = [&](size_t candidate, size_t current) {
    return current == SIZE_MAX || Before(messages[current].location, messages[candidate].location);
  };
  for (size_t i : copies) {
    const RecoveredMessage& copy = messages[i];
    for (uint32_t r = 0; r < copy.recipient_count; ++r) {
      const RecoveredRecipient& entry = all_recipients[copy.first_recipient + r];
      Recipient& recipient = recipients[entry.address_hash];
      if (newer(i, recipient.newest_any)) recipient.newest_any = i;
      if (!entry.finished && newer(i, recipient.newest_live)) recipient.newest_live = i;
      if (entry.finished && !moved->contains(MovedRecipient{i, r})) recipient.done = true;
    }
  }
  uint64_t changed = 0;
  for (size_t i : copies) {
    RecoveredMessage& copy = messages[i];
    for (uint32_t r = 0; r < copy.recipient_count; ++r) {
      RecoveredRecipient& entry = all_recipients[copy.first_recipient + r];
      const Recipient& recipient = recipients[entry.address_hash];
      // Moved away from every copy (the last copy lost?): live in the
      // newest rather than lost; at least once.
      const size_t keeper =
          recipient.newest_live != SIZE_MAX ? recipient.newest_live : recipient.newest_any;
      const bool finished = recipient.done || i != keeper;
      SetFinished(copy, entry, finished, &changed);
      // What the compacted completion log will say: moved (the live copy
      // is elsewhere) or done for real in every copy.
      if (finished && !recipient.done) {
        moved->insert(MovedRecipient{i, r});
      } else {
        moved->erase(MovedRecipient{i, r});
      }
    }
  }
  return changed;
}

}  // namespace

uint64_t ResolveRelocatedCopies(std::vector<RecoveredMessage>* messages,
                                std::vector<RecoveredRecipient>* recipients,
                                MovedRecipients* moved) {
  absl::flat_hash_map<uint64_t, std::vector<size_t>> copies;
  for (const RecoveredMessage& message : *messages) {
    // Compaction copies only messages with an id (0: none, unmatched).
    if (message.relocated && message.queue_id != 0) copies.try_emplace(message.queue_id);
  }
  if (copies.empty()) return 0;
  for (size_t i = 0; i < messages->size(); ++i) {
    auto it = copies.find((*messages)[i].queue_id);
    if (it != copies.end()) it->second.push_back(i);
  }
  uint64_t changed = 0;
  for (const auto& [queue_id, group] : copies) {
    if (group.size() > 1) changed += ResolveGroup(*messages, *recipients, group, moved);
  }
  return changed;
}

}  // namespace etrnd::spool
