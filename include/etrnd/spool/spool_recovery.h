// Start-up recovery of the spool directory: rebuilds the queue from the
// segment files and completion logs of every core, before the server greets
// anyone. Bodies stay on disk: a core's SpoolReader fetches one through
// its ring when it is delivered.
//
// What it does to the directory (all of it safe to interrupt and re-run):
// - copies every damaged byte range to <spool>/damaged/ (logged) and uses
//   every intact record, before and after the damage (resync);
// - cuts a torn tail (damage reaching the end of a file: a write cut short
//   by a crash) off the file, after copying it aside;
// - moves a file of another format version, or an unreadable one, to
//   damaged/ untouched;
// - keeps one copy of a message compaction moved (relocated_copies.h);
// - deletes segments with no unfinished recipient left;
// - compacts all completion logs into one that holds only the completions of
//   still-live messages (so completion logs stay bounded across restarts).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etrnd/spool/spool_files.h"
#include "etrnd/spool/spool_record.h"

namespace etrnd::spool {

// What the queue index needs of one message, and no more: at 1e7 queued
// messages every byte here is 10 MB of start-up RSS. Envelope strings stay
// on disk (SpoolReader reads them back with the body at delivery).
struct RecoveredMessage {
  RecordLocation location;
  int64_t arrival_unix_micros = 0;
  uint64_t queue_id = 0;  // control::ParseQueueId of the message's id; 0 if none
  // This message's recipients are RecoveryResult::recipients[first_recipient,
  // first_recipient + recipient_count), in record order.
  uint64_t first_recipient = 0;
  uint32_t recipient_count = 0;
  uint32_t live_recipients = 0;
  bool null_sender = false;  // MAIL FROM:<> (a bounce)
  bool relocated = false;    // a copy written by compaction (relocated_copies.h)
};

// One recipient of a recovered message, 8 bytes (1e7 of them at start-up):
// its domain (an index into RecoveryResult::domains), whether a completion
// finished it, and a 32-bit hash of its address (compaction's copies keep
// only live recipients, so copies are matched by address, not by index; a
// collision inside a copy is detected and resolved towards delivering twice,
// see relocated_copies.h).
struct RecoveredRecipient {
  uint32_t domain : 31 = 0;
  uint32_t finished : 1 = 0;
  uint32_t address_hash = 0;
};
inline constexpr uint32_t kRecoveredDomainsMax = 1u << 31;

struct RecoveryStats {
  uint64_t segment_files = 0;
  uint64_t completion_logs = 0;
  uint64_t bytes_scanned = 0;
  uint64_t messages = 0;       // live messages returned
  uint64_t recipients = 0;     // unfinished recipients of those
  uint64_t message_bytes = 0;  // record bytes of those messages
  uint64_t completions_applied = 0;
  uint64_t stale_completions = 0;     // pointing to no (live) message
  uint64_t relocated_duplicates = 0;  // recipients finished as copies (compaction)
  uint64_t torn_tails_dropped = 0;
  uint64_t torn_bytes_dropped = 0;
  uint64_t corrupt_files = 0;   // with damage before their last record
  uint64_t damaged_ranges = 0;  // torn tails included
  uint64_t damaged_bytes = 0;
  uint64_t files_moved_aside = 0;
  uint64_t segments_deleted = 0;
  absl::Duration duration;
};

struct RecoveryResult {
  std::vector<RecoveredMessage> messages;      // by (core, segment_id, offset)
  std::vector<RecoveredRecipient> recipients;  // of all messages, see RecoveredMessage
  std::vector<std::string> domains;            // recipient domains, lower case, each once
  // Surviving segment files. All are sealed: the caller seals them in its
  // SegmentTracker after adding their messages' live recipients.
  std::vector<SegmentKey> segments;
  // The size of each of `segments`' files, same order (dead records
  // included): what compaction can win back.
  std::vector<uint64_t> segment_file_bytes;
  // Segments whose damaged bytes could not be copied to damaged/: never seal
  // them (GC must not delete the only copy of the evidence).
  std::vector<SegmentKey> pinned_segments;
  // First unused file ids (the same for every core): AppenderOptions::
  // first_file_id of the segment and completion appenders.
  uint64_t next_segment_id = 0;
  uint64_t next_completion_id = 0;
  // The completion log the compaction wrote (done-0-<id>), if any, and the
  // segments its records point into: core 0 removes it once they are gone.
  std::optional<uint64_t> compacted_log_id;
  std::vector<SegmentKey> compacted_log_segments;
  RecoveryStats stats;

  const RecoveredRecipient& recipient(const RecoveredMessage& message, uint32_t i) const {
    return recipients[message.first_recipient + i];
  }
  // Gives the memory back once every core has loaded its shard.
  void Release();
};

// Creates `spool_dir` if missing, then recovers it. Fails only when the
// directory itself is unusable; damaged contents are never an error.
absl::StatusOr<RecoveryResult> RecoverSpool(const std::string& spool_dir);

// Reads one message record back with blocking open + pread + close: for
// start-up, tools and tests only, never on a reactor thread (SpoolReader
// reads through the ring). DataLoss if it no longer checks out.
absl::StatusOr<SpoolMessage> ReadMessage(const std::string& spool_dir,
                                         const RecordLocation& location);

}  // namespace etrnd::spool
