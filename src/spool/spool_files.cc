#include "etrnd/spool/spool_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "etrnd/common/strings.h"

namespace etrnd::spool {
namespace {

constexpr std::string_view kSegmentPrefix = "seg-";
constexpr std::string_view kCompletionPrefix = "done-";
constexpr std::string_view kSuffix = ".log";
constexpr size_t kIdDigits = 10;

bool ParseDigits(std::string_view text, uint64_t* value) {
  if (text.empty() || text.size() > 20) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(AsAbsl(text), value);
}

}  // namespace

std::string SpoolFilePath(std::string_view spool_dir, SpoolFileKind kind, uint32_t core,
                          uint64_t id) {
  const std::string_view prefix =
      kind == SpoolFileKind::kSegment ? kSegmentPrefix : kCompletionPrefix;
  return absl::StrFormat("%s/%s%u-%010u%s", spool_dir, prefix, core, id, kSuffix);
}

std::optional<SpoolFileName> ParseSpoolFileName(std::string_view name) {
  SpoolFileName parsed;
  if (name.substr(0, kSegmentPrefix.size()) == kSegmentPrefix) {
    parsed.kind = SpoolFileKind::kSegment;
    name.remove_prefix(kSegmentPrefix.size());
  } else if (name.substr(0, kCompletionPrefix.size()) == kCompletionPrefix) {
    parsed.kind = SpoolFileKind::kCompletionLog;
    name.remove_prefix(kCompletionPrefix.size());
  } else {
    return std::nullopt;
  }
  if (name.size() <= kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return std::nullopt;
  }
  name.remove_suffix(kSuffix.size());
  const size_t dash = name.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  uint64_t core, id;
  const std::string_view id_text = name.substr(dash + 1);
  if (id_text.size() < kIdDigits) return std::nullopt;
  if (!ParseDigits(name.substr(0, dash), &core) || core > UINT32_MAX) return std::nullopt;
  if (!ParseDigits(id_text, &id)) return std::nullopt;
  parsed.core = static_cast<uint32_t>(core);
  parsed.id = id;
  return parsed;
}

absl::Status ErrnoStatus(int error, std::string_view what, std::string_view path) {
  const std::string message = absl::StrFormat("%s %s: %s", what, path, std::strerror(error));
  if (error == ENOSPC || error == EDQUOT) return absl::ResourceExhaustedError(message);
  if (error == ENOENT) return absl::NotFoundError(message);
  return absl::InternalError(message);
}

absl::Status FsyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open directory", dir);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(error, "fsync directory", dir);
  return absl::OkStatus();
}

absl::Status EnsureDirectory(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0750) == 0 || errno == EEXIST) {
    struct stat info;
    if (::stat(dir.c_str(), &info) != 0) return ErrnoStatus(errno, "stat", dir);
    if (!S_ISDIR(info.st_mode)) return absl::FailedPreconditionError(dir + " is not a directory");
    return absl::OkStatus();
  }
  return ErrnoStatus(errno, "mkdir", dir);
}

}  // namespace etrnd::spool
