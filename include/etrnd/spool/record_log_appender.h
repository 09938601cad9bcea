// Group-committed append-only record log of one core: the common machinery
// of segment files (messages) and completion logs. Single-threaded; NOT
// thread-safe (one per reactor core).
//
// Protocol with the reactor:
//   Append...()            encodes records into the pending batch (no I/O);
//   TakeBatch()            hands out everything appended since the last call,
//                          for ONE write (bytes, then zero_fill zeros) at
//                          batch.offset + ONE fdatasync;
//   BatchDurable(batch)    after both succeeded (the records are durable);
//   BatchFailed(batch, e)  after either failed: the file is cut back to
//                          batch.offset so nothing already durable is harmed.
// At most one batch is in flight; appends made meanwhile form the next batch
// (that is the group commit). A new file's header (spool_file_header.h) is
// the start of its first batch, so records start at kFileHeaderBytes.
//
// Files roll when they reach file_bytes_max, onto a spare file made ahead of
// need: the appender asks for one (TakeSpareRequest) and the server creates
// it through its ring (open O_EXCL, then an fsync of the directory so the
// name is durable) and hands it over (AdoptSpare); the roll itself is then
// no syscall. Until the spare arrives the current file keeps growing past
// file_bytes_max (a soft roll point; kFileBytesMaxLimit stays hard). Offline
// users (tools, tests) set roll_blocking: the appender then makes the spare
// itself, synchronously, at the roll point. An unused spare is an empty file
// (recovery drops it quietly); a clean stop removes it (DropSpare).
//
// A file grows ahead of its records in chunks of written zeros (a batch that
// crosses the filled end carries the next chunk, batch.zero_fill): the later
// batches then overwrite blocks the file already has, so their data-sync
// writes change neither its size nor its block map and cost the disk one data
// write and a flush, not also an inode write. The zeros past the last record
// are cut at a clean stop (TrimZeroFill) and by recovery after a crash.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "etrnd/spool/spool_files.h"
#include "etrnd/spool/spool_record.h"

namespace etrnd::spool {

inline constexpr uint64_t kFileBytesMaxDefault = 64ull << 20;
// Offsets of records must fit the queue index's 32-bit message key.
inline constexpr uint64_t kFileBytesMaxLimit = 2ull << 30;
inline constexpr uint64_t kPendingBytesMaxDefault = 256ull << 20;
// Zeros written ahead of the records at a time, at most (also at most 1/16
// of file_bytes_max, and never past it).
inline constexpr uint64_t kZeroFillChunkBytes = 1ull << 20;

struct AppenderOptions {
  std::string spool_dir;
  uint32_t core = 0;
  uint64_t first_file_id = 0;  // RecoveryResult::next_*_id: never reuse a name
  uint64_t file_bytes_max = kFileBytesMaxDefault;
  // Appends fail with ResourceExhausted beyond this much unwritten data
  // (back-pressure: the session answers 452 4.3.1).
  uint64_t pending_bytes_max = kPendingBytesMaxDefault;
  // true: the roll creates the next file itself (blocking open + directory
  // fsync; fine off a reactor). false: spares come from AdoptSpare.
  bool roll_blocking = true;
};

// After a failed spare, the next try waits for this much more growth of the
// current file (a full disk is not retried on every loop turn).
inline constexpr uint64_t kSpareRetryGrowthBytes = kZeroFillChunkBytes;

struct SpareRequest {
  uint64_t file_id = 0;
  std::string path;  // create with O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0640
};

struct SpoolBatch {
  uint64_t sequence = 0;
  int fd = -1;  // owned by the appender; valid until BatchDurable/BatchFailed
  uint64_t file_id = 0;
  uint64_t offset = 0;  // write `bytes` here
  std::string bytes;
  uint64_t zero_fill = 0;               // zero bytes to write right after `bytes`
  std::vector<RecordLocation> records;  // what becomes durable with it
};

class RecordLogAppender {
 public:
  RecordLogAppender(const RecordLogAppender&) = delete;
  RecordLogAppender& operator=(const RecordLogAppender&) = delete;
  virtual ~RecordLogAppender();

  // Next batch to write, or nullopt if nothing is pending or one is in flight.
  std::optional<SpoolBatch> TakeBatch();
  void BatchDurable(const SpoolBatch& batch);
  // Returns the records appended after `batch` that are dropped with it (they
  // were never written; their locations are invalid, like the batch's own).
  std::vector<RecordLocation> BatchFailed(const SpoolBatch& batch, int error);

  // Files rolled away from whose every batch is finished: they will never be
  // written again (segment GC may delete them once nothing in them is live).
  std::vector<uint64_t> TakeSealedFiles();

  // The next file to prepare, or nullopt when a spare is ready, one is being
  // prepared, or a failed one is not due for a retry yet. Each request has a
  // new id (never reused, even after a failure).
  std::optional<SpareRequest> TakeSpareRequest();
  // The requested file exists and its name is durable; the appender owns fd.
  void AdoptSpare(uint64_t file_id, int fd);
  // Creating it failed; the current file keeps growing (logged once).
  void SpareFailed(uint64_t file_id, int error);
  // Blocking: closes and unlinks an unused spare (clean stop).
  void DropSpare();
  bool spare_ready() const { return spare_fd_ >= 0; }

  // Cuts the current file's zero fill back to its last durable record. For a
  // clean stop, once the last batch finished: a blocking syscall.
  void TrimZeroFill();

  bool batch_in_flight() const { return in_flight_.has_value(); }
  uint64_t pending_bytes() const { return pending_bytes_; }
  uint64_t current_file_id() const { return current_id_; }
  uint32_t core() const { return options_.core; }
  const std::string& current_path() const { return current_path_; }

 protected:
  RecordLogAppender(SpoolFileKind kind, AppenderOptions options);
  absl::Status OpenFirstFile();
  // `encode` appends one record to the string and returns its size (0: the
  // record is invalid, nothing appended).
  absl::StatusOr<RecordLocation> AppendRecord(absl::FunctionRef<size_t(std::string*)> encode);

 private:
  struct InFlight {
    uint64_t sequence;
    int fd;
    uint64_t file_id;
  };
  absl::Status OpenFile(uint64_t id);
  absl::Status CreateSpareBlocking();
  void SwitchToSpare();
  void FinishInFlight(const SpoolBatch& batch);
  void CloseIfDone(int fd, uint64_t file_id);

  const SpoolFileKind kind_;
  const AppenderOptions options_;
  int current_fd_ = -1;
  uint64_t current_id_ = 0;
  std::string current_path_;
  uint64_t current_end_ = 0;  // offset after the last appended record
  uint64_t filled_end_ = 0;   // current file's size once taken batches land
  uint64_t durable_end_ = 0;  // current file: after its last durable record
  bool roll_required_ = false;
  int spare_fd_ = -1;
  uint64_t spare_id_ = 0;
  bool spare_requested_ = false;
  uint64_t next_spare_id_ = 0;    // ids handed out so far stay below it
  uint64_t spare_retry_end_ = 0;  // after a failure: retry from this current_end_
  bool spare_failure_logged_ = false;
  uint64_t next_sequence_ = 1;
  uint64_t pending_bytes_ = 0;
  std::deque<SpoolBatch> pending_;  // per file, oldest first
  std::optional<InFlight> in_flight_;
  std::vector<uint64_t> sealed_;
};

}  // namespace etrnd::spool
