#include "etrnd/spool/record_log_appender.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/spool/spool_file_header.h"

namespace etrnd::spool {
namespace {

// Blocking (start-up, tools): a new file whose name is durable on return.
absl::StatusOr<int> CreateFileDurably(const std::string& spool_dir, const std::string& path) {
  // O_EXCL: a name is never reused, so an existing file means a bug or a
  // second process on the same spool; refuse rather than overwrite.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoStatus(errno, "create", path);
  // The file name must be durable before any record in it is acknowledged.
  if (absl::Status status = FsyncDirectory(spool_dir); !status.ok()) {
    ::close(fd);
    ::unlink(path.c_str());
    return status;
  }
  return fd;
}

constexpr uint64_t kZeroFillFileFraction = 16;
constexpr uint64_t kZeroFillChunkBytesMin = 4096;  // a page

}  // namespace

RecordLogAppender::RecordLogAppender(SpoolFileKind kind, AppenderOptions options)
    : kind_(kind), options_(std::move(options)) {}

RecordLogAppender::~RecordLogAppender() {
  std::vector<int> fds = {current_fd_, spare_fd_};
  for (const SpoolBatch& batch : pending_) fds.push_back(batch.fd);
  if (in_flight_) fds.push_back(in_flight_->fd);
  std::sort(fds.begin(), fds.end());
  fds.erase(std::unique(fds.begin(), fds.end()), fds.end());
  for (int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
}

absl::Status RecordLogAppender::OpenFirstFile() {
  if (options_.file_bytes_max == 0 || options_.file_bytes_max > kFileBytesMaxLimit) {
    return absl::InvalidArgumentError(
        absl::StrFormat("file_bytes_max must be in [1, %u]", kFileBytesMaxLimit));
  }
  next_spare_id_ = options_.first_file_id + 1;
  return OpenFile(options_.first_file_id);
}

std::optional<SpareRequest> RecordLogAppender::TakeSpareRequest() {
  if (current_fd_ < 0 || spare_fd_ >= 0 || spare_requested_) return std::nullopt;
  if (current_end_ < spare_retry_end_) return std::nullopt;
  next_spare_id_ = std::max(next_spare_id_, current_id_ + 1);
  SpareRequest request;
  request.file_id = next_spare_id_++;
  request.path = SpoolFilePath(options_.spool_dir, kind_, options_.core, request.file_id);
  spare_requested_ = true;
  return request;
}

void RecordLogAppender::AdoptSpare(uint64_t file_id, int fd) {
  ETRND_CHECK(spare_requested_ && spare_fd_ < 0 && fd >= 0 && file_id > current_id_);
  spare_requested_ = false;
  spare_fd_ = fd;
  spare_id_ = file_id;
  spare_retry_end_ = 0;
  spare_failure_logged_ = false;
}

void RecordLogAppender::SpareFailed(uint64_t file_id, int error) {
  ETRND_CHECK(spare_requested_);
  spare_requested_ = false;
  spare_retry_end_ = current_end_ + kSpareRetryGrowthBytes;
  if (!spare_failure_logged_) {
    spare_failure_logged_ = true;
    ETRND_LOG_WARNING("spool: cannot prepare the next file %s: %s; %s keeps growing",
                      SpoolFilePath(options_.spool_dir, kind_, options_.core, file_id),
                      std::strerror(error), current_path_);
  }
}

void RecordLogAppender::DropSpare() {
  if (spare_fd_ < 0) return;
  ::close(spare_fd_);
  spare_fd_ = -1;
  const std::string path = SpoolFilePath(options_.spool_dir, kind_, options_.core, spare_id_);
  // Harmless if it stays: recovery drops empty files.
  if (::unlink(path.c_str()) != 0) {
    ETRND_LOG_WARNING("spool: cannot remove the unused %s: %s", path, std::strerror(errno));
  }
}

absl::Status RecordLogAppender::CreateSpareBlocking() {
  std::optional<SpareRequest> request = TakeSpareRequest();
  if (!request.has_value()) return absl::OkStatus();
  absl::StatusOr<int> fd = CreateFileDurably(options_.spool_dir, request->path);
  if (!fd.ok()) {
    spare_requested_ = false;  // the caller gets the error; the next append retries
    return fd.status();
  }
  AdoptSpare(request->file_id, *fd);
  return absl::OkStatus();
}

void RecordLogAppender::SwitchToSpare() {
  ETRND_CHECK(spare_fd_ >= 0);
  const int previous_fd = current_fd_;
  const uint64_t previous_id = current_id_;
  current_fd_ = spare_fd_;
  current_id_ = spare_id_;
  current_path_ = SpoolFilePath(options_.spool_dir, kind_, options_.core, spare_id_);
  spare_fd_ = -1;
  current_end_ = 0;
  filled_end_ = 0;
  durable_end_ = 0;
  roll_required_ = false;
  spare_retry_end_ = 0;
  if (previous_fd >= 0) CloseIfDone(previous_fd, previous_id);
}

absl::Status RecordLogAppender::OpenFile(uint64_t id) {
  const std::string path = SpoolFilePath(options_.spool_dir, kind_, options_.core, id);
  absl::StatusOr<int> fd = CreateFileDurably(options_.spool_dir, path);
  if (!fd.ok()) return fd.status();
  spare_fd_ = *fd;
  spare_id_ = id;
  SwitchToSpare();
  return absl::OkStatus();
}

absl::StatusOr<RecordLocation> RecordLogAppender::AppendRecord(
    absl::FunctionRef<size_t(std::string*)> encode) {
  if (pending_bytes_ >= options_.pending_bytes_max) {
    return absl::ResourceExhaustedError("spool write backlog over pending_bytes_max");
  }
  if (roll_required_ || current_end_ >= options_.file_bytes_max) {
    if (spare_fd_ < 0 && options_.roll_blocking) {
      if (absl::Status status = CreateSpareBlocking(); !status.ok()) return status;
    }
    if (spare_fd_ >= 0) {
      SwitchToSpare();
    } else if (roll_required_ || current_end_ >= kFileBytesMaxLimit) {
      // No spare yet and the current file cannot take more: back-pressure.
      return absl::ResourceExhaustedError("spool file full and its successor not ready");
    }
  }
  if (pending_.empty() || pending_.back().file_id != current_id_) {
    SpoolBatch batch;
    batch.fd = current_fd_;
    batch.file_id = current_id_;
    batch.offset = current_end_;
    pending_.push_back(std::move(batch));
  }
  SpoolBatch& batch = pending_.back();
  const size_t batch_bytes_before = batch.bytes.size();
  // A new file's header rides with its first batch: it becomes durable with
  // the first record, and a file cut back to empty gets it again.
  const bool needs_header = current_end_ == 0;
  if (needs_header) EncodeFileHeader(kind_, &batch.bytes);
  const size_t length = encode(&batch.bytes);
  if (length == 0) {
    batch.bytes.resize(batch_bytes_before);
    if (batch.bytes.empty()) pending_.pop_back();
    return absl::InvalidArgumentError("record over its size bounds");
  }
  if (needs_header) {
    current_end_ += kFileHeaderBytes;
    pending_bytes_ += kFileHeaderBytes;
  }
  ETRND_CHECK(batch.offset + batch.bytes.size() == current_end_ + length);
  RecordLocation location;
  location.core = options_.core;
  location.segment_id = current_id_;
  location.offset = current_end_;
  location.length = static_cast<uint32_t>(length);
  batch.records.push_back(location);
  current_end_ += length;
  pending_bytes_ += length;
  return location;
}

std::optional<SpoolBatch> RecordLogAppender::TakeBatch() {
  if (in_flight_ || pending_.empty()) return std::nullopt;
  SpoolBatch batch = std::move(pending_.front());
  pending_.pop_front();
  batch.sequence = next_sequence_++;
  ETRND_CHECK(pending_bytes_ >= batch.bytes.size());
  pending_bytes_ -= batch.bytes.size();
  const uint64_t end = batch.offset + batch.bytes.size();
  if (batch.file_id == current_id_ && end > filled_end_) {
    // The next chunk of zeros rides with this batch; never past
    // file_bytes_max, so a file that rolls has records over all of it. A
    // chunk is also at most 1/kZeroFillFileFraction of a file: the zeros
    // ahead stay small next to what the spool holds.
    const uint64_t chunk =
        std::max(kZeroFillChunkBytesMin,
                 std::min(kZeroFillChunkBytes, options_.file_bytes_max / kZeroFillFileFraction));
    const uint64_t chunk_end = (end / chunk + 1) * chunk;
    const uint64_t fill_end = std::min(chunk_end, std::max(end, options_.file_bytes_max));
    batch.zero_fill = fill_end - end;
    filled_end_ = fill_end;
  }
  in_flight_ = InFlight{batch.sequence, batch.fd, batch.file_id};
  return batch;
}

void RecordLogAppender::FinishInFlight(const SpoolBatch& batch) {
  // One batch is in the ring at a time; finishing another means the group
  // committer lost track of its writes.
  ETRND_CHECK(in_flight_ && in_flight_->sequence == batch.sequence);
  in_flight_.reset();
}

void RecordLogAppender::BatchDurable(const SpoolBatch& batch) {
  FinishInFlight(batch);
  if (batch.file_id == current_id_) durable_end_ = batch.offset + batch.bytes.size();
  CloseIfDone(batch.fd, batch.file_id);
}

std::vector<RecordLocation> RecordLogAppender::BatchFailed(const SpoolBatch& batch, int error) {
  FinishInFlight(batch);
  const std::string path = SpoolFilePath(options_.spool_dir, kind_, options_.core, batch.file_id);
  ETRND_LOG_WARNING("spool: write of %u bytes at %s:%u failed: %s; %u records dropped",
                    batch.bytes.size(), path, batch.offset, std::strerror(error),
                    batch.records.size());
  // Later batches were encoded after the failed bytes: their offsets are
  // wrong now, so they fail too (they were never acknowledged).
  std::vector<RecordLocation> dropped;
  std::vector<std::pair<int, uint64_t>> files;
  for (SpoolBatch& pending : pending_) {
    dropped.insert(dropped.end(), pending.records.begin(), pending.records.end());
    files.emplace_back(pending.fd, pending.file_id);
  }
  pending_.clear();
  pending_bytes_ = 0;
  const bool truncated = ::ftruncate(batch.fd, static_cast<off_t>(batch.offset)) == 0;
  if (!truncated) {
    ETRND_LOG_ERROR("spool: cannot truncate %s back to %u: %s; rolling to a new file", path,
                    batch.offset, std::strerror(errno));
  }
  if (batch.file_id == current_id_) {
    current_end_ = batch.offset;
    filled_end_ = batch.offset;
    roll_required_ = !truncated;
    if (roll_required_) spare_retry_end_ = 0;  // appends wait for a spare now
  } else {
    current_end_ = 0;  // the current file never got a write
  }
  files.emplace_back(batch.fd, batch.file_id);
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  for (const auto& [fd, file_id] : files) CloseIfDone(fd, file_id);
  return dropped;
}

void RecordLogAppender::CloseIfDone(int fd, uint64_t file_id) {
  if (fd == current_fd_) return;
  if (in_flight_ && in_flight_->fd == fd) return;
  for (const SpoolBatch& batch : pending_) {
    if (batch.fd == fd) return;
  }
  ::close(fd);
  sealed_.push_back(file_id);
}

void RecordLogAppender::TrimZeroFill() {
  if (current_fd_ < 0 || filled_end_ <= durable_end_) return;
  if (::ftruncate(current_fd_, static_cast<off_t>(durable_end_)) != 0) {
    // Harmless: recovery cuts a zero tail too.
    ETRND_LOG_WARNING("spool: cannot cut the zero fill of %s at %u: %s", current_path_,
                      durable_end_, std::strerror(errno));
    return;
  }
  filled_end_ = durable_end_;
}

std::vector<uint64_t> RecordLogAppender::TakeSealedFiles() {
  std::vector<uint64_t> sealed;
  sealed.swap(sealed_);
  return sealed;
}

}  // namespace etrnd::spool
