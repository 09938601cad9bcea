#include "etrnd/spool/record_file_scanner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "etrnd/spool/spool_files.h"

namespace etrnd::spool {
namespace {

// Owns the descriptor and a sliding window over the file.
class FileWindow {
 public:
  explicit FileWindow(int fd) : fd_(fd) { buffer_.resize(kScanBufferBytes); }
  ~FileWindow() { ::close(fd_); }

  std::string_view view() const { return std::string_view(buffer_.data() + begin_, end_ - begin_); }
  uint64_t view_offset() const { return window_offset_ + begin_; }
  bool at_eof() const { return eof_; }
  void Consume(size_t bytes) { begin_ += bytes; }

  // Keeps the unconsumed bytes and reads more, growing the buffer to at least
  // `wanted` bytes (a record larger than the buffer).
  absl::Status Refill(size_t wanted) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    window_offset_ += begin_;
    end_ -= begin_;
    begin_ = 0;
    if (wanted > buffer_.size()) buffer_.resize(wanted);
    while (end_ < buffer_.size()) {
      const ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus(errno, "read", "spool file");
      if (n == 0) {
        eof_ = true;
        break;
      }
      end_ += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

 private:
  const int fd_;
  std::string buffer_;
  uint64_t window_offset_ = 0;  // file offset of buffer_[0]
  size_t begin_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
};

uint32_t DeclaredPayloadBytes(std::string_view header) {
  uint32_t length = 0;
  for (int i = 0; i < 4; ++i) {
    length |= static_cast<uint32_t>(static_cast<unsigned char>(header[12 + i])) << (8 * i);
  }
  return length;
}

bool AllZero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

// A damaged record is a torn write if it reaches the end of the file, or if
// only zero fill follows it (what some file systems show after a crash).
absl::StatusOr<FileEnd> ClassifyDamage(FileWindow& window, uint64_t file_bytes) {
  const std::string_view rest = window.view();
  uint64_t zeros_from = window.view_offset();
  const bool has_magic =
      rest.size() >= 4 && DecodeRecord(rest.substr(0, 4)).status != DecodeStatus::kCorrupt;
  if (has_magic && rest.size() >= kRecordHeaderBytes) {
    const uint64_t declared_end = zeros_from + kRecordHeaderBytes + DeclaredPayloadBytes(rest);
    if (declared_end >= file_bytes) return FileEnd::kTornTail;
    zeros_from = declared_end;
  }
  while (true) {
    if (zeros_from > window.view_offset()) {
      window.Consume(std::min<uint64_t>(window.view().size(), zeros_from - window.view_offset()));
    }
    if (!AllZero(window.view())) return FileEnd::kCorruptMiddle;
    window.Consume(window.view().size());
    if (window.at_eof()) return FileEnd::kTornTail;
    if (absl::Status status = window.Refill(0); !status.ok()) return status;
  }
}

}  // namespace

absl::StatusOr<ScanResult> ScanRecordFile(
    const std::string& path,
    absl::FunctionRef<void(uint64_t offset, const DecodedRecord& record)> on_record) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  FileWindow window(fd);
  ScanResult result;
  struct stat info;
  if (::fstat(fd, &info) != 0) return ErrnoStatus(errno, "stat", path);
  result.file_bytes = static_cast<uint64_t>(info.st_size);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

  if (absl::Status status = window.Refill(0); !status.ok()) return status;
  while (true) {
    const DecodedRecord record = DecodeRecord(window.view());
    if (record.status == DecodeStatus::kOk) {
      on_record(window.view_offset(), record);
      window.Consume(record.consumed);
      ++result.records;
      result.valid_bytes = window.view_offset();
      continue;
    }
    if (record.status == DecodeStatus::kNeedMore && !window.at_eof()) {
      if (absl::Status status = window.Refill(record.consumed); !status.ok()) return status;
      continue;
    }
    if (window.view().empty()) return result;  // clean end
    if (record.status == DecodeStatus::kNeedMore) {
      result.end = FileEnd::kTornTail;
      return result;
    }
    absl::StatusOr<FileEnd> end = ClassifyDamage(window, result.file_bytes);
    if (!end.ok()) return end.status();
    result.end = *end;
    return result;
  }
}

}  // namespace etrnd::spool
