#include "etrnd/spool/damaged_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_format.h"
#include "etrnd/spool/spool_files.h"

namespace etrnd::spool {
namespace {

absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "write", path);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

std::string DamagedDir(std::string_view spool_dir) {
  return absl::StrFormat("%s/%s", spool_dir, kDamagedDirName);
}

absl::StatusOr<std::string> SaveDamagedRange(const std::string& spool_dir,
                                             std::string_view file_name, uint64_t offset,
                                             std::string_view bytes) {
  const std::string dir = DamagedDir(spool_dir);
  if (absl::Status status = EnsureDirectory(dir); !status.ok()) return status;
  const std::string path =
      absl::StrFormat("%s/%s.offset-%u.length-%u", dir, file_name, offset, bytes.size());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoStatus(errno, "create", path);
  absl::Status status = WriteAll(fd, bytes, path);
  if (status.ok() && ::fdatasync(fd) != 0) status = ErrnoStatus(errno, "fdatasync", path);
  ::close(fd);
  if (!status.ok()) return status;
  // The copy must be durable before the source bytes can be cut or deleted.
  if (absl::Status synced = FsyncDirectory(dir); !synced.ok()) return synced;
  return path;
}

absl::StatusOr<std::string> MoveAside(const std::string& spool_dir, std::string_view file_name) {
  const std::string dir = DamagedDir(spool_dir);
  if (absl::Status status = EnsureDirectory(dir); !status.ok()) return status;
  const std::string source = absl::StrFormat("%s/%s", spool_dir, file_name);
  for (int attempt = 0; attempt < kMoveAsideNamesMax; ++attempt) {
    const std::string target = attempt == 0 ? absl::StrFormat("%s/%s", dir, file_name)
                                            : absl::StrFormat("%s/%s.%d", dir, file_name, attempt);
    struct stat info;
    if (::lstat(target.c_str(), &info) == 0) continue;  // never overwrite evidence
    if (::rename(source.c_str(), target.c_str()) != 0) {
      return ErrnoStatus(errno, "rename", source);
    }
    if (absl::Status status = FsyncDirectory(dir); !status.ok()) return status;
    if (absl::Status status = FsyncDirectory(spool_dir); !status.ok()) return status;
    return target;
  }
  return absl::AlreadyExistsError(absl::StrFormat("no free name in %s for %s", dir, file_name));
}

}  // namespace etrnd::spool
