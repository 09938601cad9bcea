#include "etrnd/spool/spool_recovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_format.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/common/strings.h"
#include "etrnd/config/domain_name.h"
#include "etrnd/control/control_request.h"
#include "etrnd/spool/damaged_files.h"
#include "etrnd/spool/record_file_scanner.h"
#include "etrnd/spool/relocated_copies.h"
#include "etrnd/spool/spool_file_header.h"

namespace etrnd::spool {
namespace {

constexpr const char* kCompactionTempName = "done-compaction.tmp";
// After this many records the message count is projected from their density.
constexpr size_t kProjectAfterRecords = 4096;
constexpr double kProjectionMargin = 1.1;
// Segment files whose reading the scan starts ahead of the one it parses
// (2 x 64 MiB by default: the disk stays busy while the CPU parses).
constexpr size_t kReadAheadFiles = 2;

struct SpoolListing {
  std::vector<SpoolFileName> segments;
  std::vector<SpoolFileName> completion_logs;
};

bool ByCoreThenId(const SpoolFileName& a, const SpoolFileName& b) {
  return a.core != b.core ? a.core < b.core : a.id < b.id;
}

absl::StatusOr<SpoolListing> ListSpool(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> handle(::opendir(dir.c_str()), ::closedir);
  if (!handle) return ErrnoStatus(errno, "opendir", dir);
  SpoolListing listing;
  while (const dirent* entry = ::readdir(handle.get())) {
    const std::optional<SpoolFileName> name = ParseSpoolFileName(entry->d_name);
    if (!name) continue;
    (name->kind == SpoolFileKind::kSegment ? listing.segments : listing.completion_logs)
        .push_back(*name);
  }
  std::sort(listing.segments.begin(), listing.segments.end(), ByCoreThenId);
  std::sort(listing.completion_logs.begin(), listing.completion_logs.end(), ByCoreThenId);
  return listing;
}

absl::Status TruncateDurably(const std::string& path, uint64_t length) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  const bool ok = ::ftruncate(fd, static_cast<off_t>(length)) == 0 && ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  return ok ? absl::OkStatus() : ErrnoStatus(error, "truncate", path);
}

absl::Status WriteFileDurably(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoStatus(errno, "create", path);
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return ErrnoStatus(error, "write", path);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  const bool synced = ::fdatasync(fd) == 0;
  const int error = errno;
  ::close(fd);
  return synced ? absl::OkStatus() : ErrnoStatus(error, "fdatasync", path);
}

class Recovery {
 public:
  explicit Recovery(std::string dir) : dir_(std::move(dir)) {}

  absl::StatusOr<RecoveryResult> Run() {
    const absl::Time start = absl::Now();
    if (absl::Status s = EnsureDirectory(dir_); !s.ok()) return s;
    ::unlink((dir_ + "/" + kCompactionTempName).c_str());  // an interrupted compaction
    absl::StatusOr<SpoolListing> listing = ListSpool(dir_);
    if (!listing.ok()) return listing.status();
    listing_ = std::move(*listing);
    result_.stats.segment_files = listing_.segments.size();
    result_.stats.completion_logs = listing_.completion_logs.size();
    for (const SpoolFileName& name : listing_.segments) {
      result_.next_segment_id = std::max(result_.next_segment_id, name.id + 1);
    }
    for (const SpoolFileName& name : listing_.completion_logs) {
      result_.next_completion_id = std::max(result_.next_completion_id, name.id + 1);
    }
    if (absl::Status s = ScanSegments(); !s.ok()) return s;
    if (absl::Status s = ApplyCompletions(); !s.ok()) return s;
    result_.stats.relocated_duplicates =
        ResolveRelocatedCopies(&messages_, &result_.recipients, &moved_);
    CountLiveRecipients();
    if (absl::Status s = DeleteFinishedSegments(); !s.ok()) return s;
    if (absl::Status s = CompactCompletionLogs(); !s.ok()) return s;
    KeepLiveMessages();
    result_.stats.duration = absl::Now() - start;
    return std::move(result_);
  }

 private:
  enum class FileOutcome {
    kUsable,      // scanned; damage (if any) copied aside, torn tail cut
    kPinned,      // scanned, but damaged bytes could not be copied aside:
                  // the file itself is the only evidence, keep it
    kMovedAside,  // not read (other format version, unreadable): in damaged/
  };

  // Scans one file: reports its records, copies damaged ranges to damaged/,
  // cuts a torn tail. Never fails: whatever the spool holds, the server starts.
  FileOutcome ScanAndRepair(
      const SpoolFileName& name,
      absl::FunctionRef<void(uint64_t offset, const DecodedRecord& record)> on_record) {
    const std::string path = SpoolFilePath(dir_, name.kind, name.core, name.id);
    const std::string file_name = path.substr(dir_.size() + 1);
    bool saved_all = true;
    bool damaged_middle = false;
    auto on_damage = [&](const DamagedRange& range, std::string_view bytes) {
      ++result_.stats.damaged_ranges;
      result_.stats.damaged_bytes += range.length;
      damaged_middle |= !range.torn_tail;
      const char* what = range.torn_tail ? "torn tail" : "damaged range";
      if (range.all_zero) {
        ETRND_LOG_WARNING("spool: %s: %s of %u zero bytes at offset %u (nothing to keep)", path,
                          what, range.length, range.offset);
        return;
      }
      absl::StatusOr<std::string> copy = SaveDamagedRange(dir_, file_name, range.offset, bytes);
      if (!copy.ok()) {
        saved_all = false;
        ETRND_LOG_ERROR(
            "spool: %s: %s of %u bytes at offset %u; cannot copy it aside (%s): "
            "keeping the file as it is",
            path, what, range.length, range.offset, copy.status().ToString());
        return;
      }
      ETRND_LOG_WARNING("spool: %s: %s of %u bytes at offset %u copied to %s", path, what,
                        range.length, range.offset, *copy);
    };
    absl::StatusOr<ScanResult> scan = ScanRecordFile(path, on_record, on_damage);
    if (!scan.ok()) {
      ETRND_LOG_ERROR("spool: %s: cannot be read (%s)", path, scan.status().ToString());
      return MoveFileAside(path, file_name);
    }
    result_.stats.bytes_scanned += scan->file_bytes;
    if (scan->format == FileHeaderStatus::kOtherVersion) {
      ETRND_LOG_ERROR("spool: %s: format version %u, this release reads version %u only", path,
                      scan->version, kFormatVersion);
      return MoveFileAside(path, file_name);
    }
    if (damaged_middle) ++result_.stats.corrupt_files;
    if (!saved_all) return FileOutcome::kPinned;
    if (scan->valid_bytes < scan->file_bytes) {
      // Only a damaged last record: a write the crash cut short, never
      // acknowledged (its fdatasync had not completed).
      ++result_.stats.torn_tails_dropped;
      result_.stats.torn_bytes_dropped += scan->file_bytes - scan->valid_bytes;
      if (absl::Status s = TruncateDurably(path, scan->valid_bytes); !s.ok()) {
        ETRND_LOG_ERROR("spool: %s: cannot cut the torn tail (%s)", path, s.ToString());
        return FileOutcome::kPinned;
      }
    }
    return FileOutcome::kUsable;
  }

  FileOutcome MoveFileAside(const std::string& path, const std::string& file_name) {
    absl::StatusOr<std::string> moved = MoveAside(dir_, file_name);
    if (moved.ok()) {
      ETRND_LOG_WARNING("spool: %s moved aside to %s, untouched", path, *moved);
    } else {
      ETRND_LOG_ERROR("spool: %s: cannot move it aside (%s); ignoring it", path,
                      moved.status().ToString());
    }
    ++result_.stats.files_moved_aside;
    return FileOutcome::kMovedAside;
  }

  // Files not read are left alone from here on: no deletion, no compaction.
  static void Forget(std::vector<SpoolFileName>& names, const std::vector<SpoolFileName>& gone) {
    std::erase_if(names, [&](const SpoolFileName& name) {
      return std::any_of(gone.begin(), gone.end(), [&](const SpoolFileName& g) {
        return g.core == name.core && g.id == name.id;
      });
    });
  }

  absl::Status ScanSegments() {
    uint64_t total_bytes = 0;
    for (const SpoolFileName& name : listing_.segments) {
      struct stat info;
      if (::stat(SegmentPath(dir_, name.core, name.id).c_str(), &info) == 0) {
        total_bytes += static_cast<uint64_t>(info.st_size);
      }
    }
    uint64_t scanned_bytes = 0;
    std::vector<SpoolFileName> unread;
    for (size_t i = 0; i < kReadAheadFiles && i < listing_.segments.size(); ++i) {
      ReadAhead(listing_.segments[i]);
    }
    for (size_t i = 0; i < listing_.segments.size(); ++i) {
      const SpoolFileName& name = listing_.segments[i];
      if (i + kReadAheadFiles < listing_.segments.size()) {
        ReadAhead(listing_.segments[i + kReadAheadFiles]);
      }
      const std::string path = SegmentPath(dir_, name.core, name.id);
      auto on_record = [&](uint64_t offset, const DecodedRecord& record) {
        if (messages_.size() == kProjectAfterRecords) {
          ReserveForProjection(scanned_bytes + offset + record.consumed, total_bytes);
        }
        AddMessage(path, name, offset, record);
      };
      const FileOutcome outcome = ScanAndRepair(name, on_record);
      file_bytes_[SegmentKey{name.core, name.id}] = result_.stats.bytes_scanned - scanned_bytes;
      if (outcome == FileOutcome::kPinned) pinned_.push_back(SegmentKey{name.core, name.id});
      if (outcome == FileOutcome::kMovedAside) unread.push_back(name);
      scanned_bytes = result_.stats.bytes_scanned;
    }
    Forget(listing_.segments, unread);
    return absl::OkStatus();
  }

  // Asks the kernel to start reading a segment now, so that a cold page
  // cache reads the next files while this one is parsed. A hint only.
  void ReadAhead(const SpoolFileName& name) {
    const int fd = ::open(SegmentPath(dir_, name.core, name.id).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
    ::close(fd);
  }

  // Growing a vector of a million messages by doubling costs more than the
  // scan itself: size it from the record density seen so far.
  void ReserveForProjection(uint64_t bytes_so_far, uint64_t total_bytes) {
    if (bytes_so_far == 0) return;
    const double projected = static_cast<double>(messages_.size()) *
                             static_cast<double>(total_bytes) / static_cast<double>(bytes_so_far);
    const size_t capacity = static_cast<size_t>(projected * kProjectionMargin);
    const double recipients_per_message =
        static_cast<double>(result_.recipients.size()) / static_cast<double>(messages_.size());
    messages_.reserve(capacity);
    result_.recipients.reserve(static_cast<size_t>(capacity * recipients_per_message));
  }

  void AddMessage(const std::string& path, const SpoolFileName& name, uint64_t offset,
                  const DecodedRecord& record) {
    if (record.type != RecordType::kMessage || !ParseMessagePayload(record.payload, &view_)) {
      ETRND_LOG_ERROR("spool: %s: unexpected record at offset %u skipped", path, offset);
      return;
    }
    RecoveredMessage message;
    message.location =
        RecordLocation{name.core, name.id, offset, static_cast<uint32_t>(record.consumed)};
    message.queue_id = control::ParseQueueId(view_.queue_id).value_or(0);
    message.arrival_unix_micros = view_.arrival_unix_micros;
    message.null_sender = view_.mail_from.empty();
    message.first_recipient = result_.recipients.size();
    message.recipient_count = static_cast<uint32_t>(view_.recipients.size());
    message.relocated = (record.flags & kRecordFlagRelocated) != 0;
    message.live_recipients = message.recipient_count;
    for (std::string_view recipient : view_.recipients) {
      result_.recipients.push_back(RecoveredRecipient{
          DomainId(recipient), false, static_cast<uint32_t>(absl::HashOf(AsAbsl(recipient)))});
    }
    messages_.push_back(message);
  }

  // The recipient's domain, lower case, interned: 1e5 domains for 1e7
  // recipients cost one string each.
  uint32_t DomainId(std::string_view address) {
    const size_t at = address.rfind('@');
    std::string_view domain = at == std::string_view::npos ? "" : address.substr(at + 1);
    std::string lowered;
    if (std::any_of(domain.begin(), domain.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
      lowered = config::AsciiLower(domain);
      domain = lowered;
    }
    const absl::string_view key(domain.data(), domain.size());
    if (auto it = domain_ids_.find(key); it != domain_ids_.end()) return it->second;
    ETRND_CHECK(result_.domains.size() < kRecoveredDomainsMax);
    const uint32_t id = static_cast<uint32_t>(result_.domains.size());
    result_.domains.emplace_back(domain);
    domain_ids_.emplace(std::string(domain), id);
    return id;
  }

  absl::Status ApplyCompletions() {
    std::vector<SpoolFileName> unread;
    for (const SpoolFileName& name : listing_.completion_logs) {
      const FileOutcome outcome =
          ScanAndRepair(name, [&](uint64_t, const DecodedRecord& record) { Apply(record); });
      // A pinned log is the only copy of its damaged bytes: compaction keeps it.
      if (outcome != FileOutcome::kUsable) unread.push_back(name);
    }
    Forget(listing_.completion_logs, unread);
    return absl::OkStatus();
  }

  // Segments are scanned in (core, id) order and records in offset order, so
  // messages_ is sorted by location: a binary search needs no index.
  RecoveredMessage* FindMessage(const SpoolCompletion& completion) {
    const auto order = [](const RecordLocation& location) {
      return std::tie(location.core, location.segment_id, location.offset);
    };
    const RecordLocation wanted{completion.core, completion.segment_id, completion.offset, 0};
    auto it = std::lower_bound(messages_.begin(), messages_.end(), wanted,
                               [&](const RecoveredMessage& message, const RecordLocation& key) {
                                 return order(message.location) < order(key);
                               });
    if (it == messages_.end() || order(it->location) != order(wanted)) return nullptr;
    return &*it;
  }

  void Apply(const DecodedRecord& record) {
    SpoolCompletion completion;
    if (record.type != RecordType::kCompletion ||
        !ParseCompletionPayload(record.payload, &completion)) {
      ++result_.stats.stale_completions;
      return;
    }
    RecoveredMessage* found = FindMessage(completion);
    if (found == nullptr) {
      ++result_.stats.stale_completions;
      return;
    }
    RecoveredMessage& message = *found;
    if (completion.recipient_index >= message.recipient_count ||
        result_.recipient(message, completion.recipient_index).finished) {
      ++result_.stats.stale_completions;
      return;
    }
    result_.recipients[message.first_recipient + completion.recipient_index].finished = true;
    --message.live_recipients;
    if (completion.outcome == RecipientOutcome::kMoved) {
      moved_.emplace(static_cast<size_t>(found - messages_.data()), completion.recipient_index);
    }
    ++result_.stats.completions_applied;
  }

  static SegmentKey SegmentOf(const RecoveredMessage& message) {
    return SegmentKey{message.location.core, message.location.segment_id};
  }

  void CountLiveRecipients() {
    for (const RecoveredMessage& message : messages_) {
      if (message.live_recipients > 0) {
        live_per_segment_[SegmentOf(message)] += message.live_recipients;
      }
    }
  }

  void KeepLiveMessages() {
    std::erase_if(messages_,
                  [](const RecoveredMessage& message) { return message.live_recipients == 0; });
    for (const RecoveredMessage& message : messages_) {
      result_.stats.recipients += message.live_recipients;
      result_.stats.message_bytes += message.location.length;
    }
    result_.messages = std::move(messages_);
    result_.stats.messages = result_.messages.size();
  }

  absl::Status DeleteFinishedSegments() {
    for (const SpoolFileName& name : listing_.segments) {
      const SegmentKey key{name.core, name.id};
      if (std::find(pinned_.begin(), pinned_.end(), key) != pinned_.end()) {
        result_.pinned_segments.push_back(key);
        kept_segments_.insert(key);
      } else if (live_per_segment_.contains(key)) {
        result_.segments.push_back(key);
        result_.segment_file_bytes.push_back(file_bytes_[key]);
        kept_segments_.insert(key);
      } else {
        const std::string path = SegmentPath(dir_, name.core, name.id);
        if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "unlink", path);
        ++result_.stats.segments_deleted;
      }
    }
    if (result_.stats.segments_deleted == 0) return absl::OkStatus();
    // Segment deletions must be durable before the completions that finished
    // them disappear with the compaction.
    return FsyncDirectory(dir_);
  }

  // Keeps every completion that still matters: those of the messages in the
  // surviving segments (finished messages included, else they would come
  // back). The outcome no longer matters after a restart, so compacted
  // records all say kDelivered, except kMoved (relocated_copies.h).
  absl::Status CompactCompletionLogs() {
    if (listing_.completion_logs.empty()) return absl::OkStatus();
    std::string compacted;
    EncodeFileHeader(SpoolFileKind::kCompletionLog, &compacted);
    bool any_record = false;
    absl::flat_hash_set<SegmentKey> referenced;
    for (size_t m = 0; m < messages_.size(); ++m) {
      const RecoveredMessage& message = messages_[m];
      if (!kept_segments_.contains(SegmentOf(message))) continue;
      for (uint32_t i = 0; i < message.recipient_count; ++i) {
        if (!result_.recipient(message, i).finished) continue;
        any_record = true;
        referenced.insert(SegmentOf(message));
        const RecipientOutcome outcome = moved_.contains(MovedRecipient{m, i})
                                             ? RecipientOutcome::kMoved
                                             : RecipientOutcome::kDelivered;
        EncodeCompletion(SpoolCompletion{message.location.core, message.location.segment_id,
                                         message.location.offset, i, outcome},
                         &compacted);
      }
    }
    if (any_record) {
      const std::string temp = dir_ + "/" + kCompactionTempName;
      result_.compacted_log_id = result_.next_completion_id;
      result_.compacted_log_segments.assign(referenced.begin(), referenced.end());
      const std::string path = CompletionLogPath(dir_, 0, result_.next_completion_id++);
      if (absl::Status s = WriteFileDurably(temp, compacted); !s.ok()) return s;
      if (::rename(temp.c_str(), path.c_str()) != 0) return ErrnoStatus(errno, "rename", temp);
      if (absl::Status s = FsyncDirectory(dir_); !s.ok()) return s;
    }
    for (const SpoolFileName& name : listing_.completion_logs) {
      const std::string path = CompletionLogPath(dir_, name.core, name.id);
      if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "unlink", path);
    }
    return FsyncDirectory(dir_);
  }

  const std::string dir_;
  SpoolListing listing_;
  std::vector<RecoveredMessage> messages_;
  SpoolMessageView view_;  // reused: no allocation per record
  absl::flat_hash_map<std::string, uint32_t> domain_ids_;
  absl::flat_hash_map<SegmentKey, uint64_t> live_per_segment_;
  absl::flat_hash_set<SegmentKey> kept_segments_;
  absl::flat_hash_map<SegmentKey, uint64_t> file_bytes_;
  // Recipients finished by a kMoved completion (compaction): the compacted
  // log keeps saying so (relocated_copies.h).
  MovedRecipients moved_;
  std::vector<SegmentKey> pinned_;
  RecoveryResult result_;
};

}  // namespace

absl::StatusOr<RecoveryResult> RecoverSpool(const std::string& spool_dir) {
  absl::StatusOr<RecoveryResult> result = Recovery(spool_dir).Run();
  if (result.ok()) {
    const RecoveryStats& stats = result->stats;
    ETRND_LOG_INFO(
        "spool: recovered %u messages (%u recipients, %u bytes) from %u segments and %u "
        "completion logs in %s; %u torn tails dropped, %u damaged ranges (%u bytes) in %u "
        "files, %u files moved aside, %u segments deleted",
        stats.messages, stats.recipients, stats.message_bytes, stats.segment_files,
        stats.completion_logs, absl::FormatDuration(stats.duration), stats.torn_tails_dropped,
        stats.damaged_ranges, stats.damaged_bytes, stats.corrupt_files, stats.files_moved_aside,
        stats.segments_deleted);
    if (stats.relocated_duplicates > 0) {
      ETRND_LOG_WARNING(
          "spool: %u recipients were queued in two places (a compaction was interrupted): "
          "kept one copy of each",
          stats.relocated_duplicates);
    }
  }
  return result;
}

void RecoveryResult::Release() {
  std::vector<RecoveredMessage>().swap(messages);
  std::vector<RecoveredRecipient>().swap(recipients);
  std::vector<std::string>().swap(domains);
}

absl::StatusOr<SpoolMessage> ReadMessage(const std::string& spool_dir,
                                         const RecordLocation& location) {
  const std::string path = SegmentPath(spool_dir, location.core, location.segment_id);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  std::string bytes(location.length, '\0');
  size_t done = 0;
  int read_error = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pread(fd, bytes.data() + done, bytes.size() - done,
                              static_cast<off_t>(location.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) read_error = errno;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (read_error != 0) return ErrnoStatus(read_error, "pread", path);
  SpoolMessage message;
  size_t consumed = 0;
  if (done < bytes.size() || DecodeMessage(bytes, &consumed, &message) != DecodeStatus::kOk ||
      consumed != location.length) {
    return absl::DataLossError(
        absl::StrFormat("%s: no valid message record at offset %u", path, location.offset));
  }
  return message;
}

}  // namespace etrnd::spool
