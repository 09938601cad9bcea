#include "etrnd/spool/record_file_scanner.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "etrnd/common/check.h"
#include "etrnd/spool/spool_files.h"

namespace etrnd::spool {
namespace {

// A read-only mapping of a whole file: resync looks back and forth across
// record boundaries, which a sliding read buffer makes needlessly subtle.
class MappedFile {
 public:
  MappedFile() = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }

  absl::Status Map(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open", path);
    struct stat info;
    if (::fstat(fd, &info) != 0) {
      const int error = errno;
      ::close(fd);
      return ErrnoStatus(error, "stat", path);
    }
    if (!S_ISREG(info.st_mode)) {
      ::close(fd);
      return absl::FailedPreconditionError(path + " is not a regular file");
    }
    size_ = static_cast<size_t>(info.st_size);
    if (size_ > 0) {
      void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (data == MAP_FAILED) {
        const int error = errno;
        ::close(fd);
        size_ = 0;
        return ErrnoStatus(error, "mmap", path);
      }
      data_ = data;
      ::madvise(data_, size_, MADV_SEQUENTIAL);
    }
    ::close(fd);
    return absl::OkStatus();
  }

  std::string_view view() const {
    return std::string_view(static_cast<const char*>(data_), data_ == nullptr ? 0 : size_);
  }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

const std::string& RecordMagicBytes() {
  static const std::string magic = [] {
    std::string bytes;
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>(kRecordMagic >> (8 * i)));
    return bytes;
  }();
  return magic;
}

// Offset of the first valid record at or after `from`, or file.size().
// A candidate must pass the magic, then the header CRC (cheap), and only then
// the payload CRC: garbage never costs more than a header check per magic.
size_t FindNextRecord(std::string_view file, size_t from) {
  while (from < file.size()) {
    const size_t candidate = file.find(RecordMagicBytes(), from);
    if (candidate == std::string_view::npos) return file.size();
    if (DecodeRecord(file.substr(candidate)).status == DecodeStatus::kOk) return candidate;
    from = candidate + 1;
  }
  return file.size();
}

bool AllZero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

}  // namespace

absl::StatusOr<ScanResult> ScanRecordFile(
    const std::string& path,
    absl::FunctionRef<void(uint64_t offset, const DecodedRecord& record)> on_record,
    absl::FunctionRef<void(const DamagedRange& range, std::string_view bytes)> on_damage) {
  MappedFile mapped;
  if (absl::Status status = mapped.Map(path); !status.ok()) return status;
  const std::string_view file = mapped.view();
  ScanResult result;
  result.file_bytes = file.size();
  result.valid_bytes = file.size();
  if (file.empty()) return result;

  const FileHeaderInfo header = DecodeFileHeader(file);
  if (header.status == FileHeaderStatus::kOtherVersion) {
    result.format = header.status;
    result.version = header.version;
    return result;
  }
  const auto report_damage = [&](size_t begin, size_t end) {
    ETRND_CHECK(begin < end && end <= file.size());
    const std::string_view bytes = file.substr(begin, end - begin);
    const DamagedRange range{begin, end - begin, end == file.size(), AllZero(bytes)};
    ++result.damaged_ranges;
    result.damaged_bytes += range.length;
    if (range.torn_tail) result.valid_bytes = begin;
    on_damage(range, bytes);
  };

  size_t position = 0;
  if (header.status == FileHeaderStatus::kCurrent) {
    position = kFileHeaderBytes;
  } else {
    // A damaged (or torn) file header: the records behind it may be intact.
    const size_t next = FindNextRecord(file, 0);
    report_damage(0, next);
    position = next;
  }
  // Each pass consumes at least one byte: bounded by the file size.
  while (position < file.size()) {
    const DecodedRecord record = DecodeRecord(file.substr(position));
    if (record.status == DecodeStatus::kOk) {
      ETRND_CHECK(record.consumed >= kRecordHeaderBytes &&
                  record.consumed <= file.size() - position);
      on_record(position, record);
      ++result.records;
      position += record.consumed;
      continue;
    }
    const size_t next = FindNextRecord(file, position + 1);
    ETRND_CHECK(next > position);
    report_damage(position, next);
    position = next;
  }
  return result;
}

}  // namespace etrnd::spool
