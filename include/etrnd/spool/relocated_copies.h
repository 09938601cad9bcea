// Recovery of compacted messages. Compaction (src/server/segment_compactor)
// rewrites a live message into the current segment (same queue id, only its
// live recipients, flagged kRecordFlagRelocated), and only once that copy is
// durable finishes the old copy's recipients with kMoved completions. A
// crash in between leaves both copies live on disk; an owner that refused
// the swap (the message was in flight) has the copy's recipients finished
// with kMoved instead. For each recipient address of such a message this
// keeps exactly one live copy: none if any copy finished it for real
// (delivered, bounced, deleted), else the newest copy (highest location)
// where it is not finished, else (moved away from every copy: the last copy
// lost) the newest copy, so nothing is lost. Addresses are compared by a
// 32-bit hash; if two recipients of one copy share a hash, the group is not
// resolved: every recipient finished only by kMoved is live again (delivered
// twice rather than lost). Recovery writes the result into
// the compacted completion log, so the older copies' segments can go.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "etrnd/spool/spool_recovery.h"

namespace etrnd::spool {

// (index into the messages, recipient index) finished by a kMoved completion.
using MovedRecipient = std::pair<size_t, uint32_t>;
using MovedRecipients = absl::flat_hash_set<MovedRecipient>;

// `messages` with completions applied; `moved` holds the recipients whose
// completion was kMoved, and on return those whose compacted completion
// must say kMoved (never kDelivered: a later start must still see the copy
// as the live one). Returns the number of recipients it finished. Costs one
// hash lookup per message when any relocated copy exists, nothing otherwise.
// `recipients` are the messages' recipients (RecoveredMessage::first_recipient);
// copies are matched by queue id, their recipients by address hash.
uint64_t ResolveRelocatedCopies(std::vector<RecoveredMessage>* messages,
                                std::vector<RecoveredRecipient>* recipients,
                                MovedRecipients* moved);

}  // namespace etrnd::spool
