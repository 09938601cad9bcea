#include "etrnd/server/privileges.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace etrnd::server {
namespace {

std::string ErrnoText(int error) { return std::strerror(error); }

// getpwnam_r's suggested buffer size may be -1 (no limit); bound retries.
constexpr size_t kPasswdBufferBytesInitial = 4096;
constexpr size_t kPasswdBufferBytesMax = 1 << 20;

absl::Status ChownOne(const std::filesystem::path& path, const RunAsUser& user) {
  if (fchownat(AT_FDCWD, path.c_str(), user.uid, user.gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return absl::PermissionDeniedError("cannot give " + path.string() + " to user " + user.name +
                                       ": " + ErrnoText(errno));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RunAsUser> LookupRunAsUser(const std::string& name) {
  std::vector<char> buffer(kPasswdBufferBytesInitial);
  passwd entry;
  passwd* found = nullptr;
  while (true) {
    int error = getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (error == ERANGE && buffer.size() < kPasswdBufferBytesMax) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (error != 0) {
      return absl::UnavailableError("--user=" + name + ": user lookup failed: " + ErrnoText(error));
    }
    break;
  }
  if (found == nullptr) return absl::NotFoundError("--user=" + name + ": no such user");
  if (found->pw_uid == 0) {
    return absl::InvalidArgumentError("--user=" + name + ": refusing to run as root");
  }
  return RunAsUser{.name = name, .uid = found->pw_uid, .gid = found->pw_gid};
}

absl::Status ChownTree(const std::string& path, const RunAsUser& user) {
  absl::Status status = ChownOne(path, user);
  if (!status.ok()) return status;
  std::error_code error;
  std::filesystem::recursive_directory_iterator it(path, std::filesystem::directory_options::none,
                                                   error);
  for (; !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    status = ChownOne(it->path(), user);
    if (!status.ok()) return status;
  }
  if (error) {
    return absl::UnavailableError("cannot walk " + path + ": " + error.message());
  }
  return absl::OkStatus();
}

absl::Status DropPrivileges(const RunAsUser& user) {
  if (initgroups(user.name.c_str(), user.gid) != 0) {
    return absl::PermissionDeniedError("initgroups(" + user.name + "): " + ErrnoText(errno));
  }
  if (setgid(user.gid) != 0) {
    return absl::PermissionDeniedError("setgid(" + std::to_string(user.gid) +
                                       "): " + ErrnoText(errno));
  }
  if (setuid(user.uid) != 0) {
    return absl::PermissionDeniedError("setuid(" + std::to_string(user.uid) +
                                       "): " + ErrnoText(errno));
  }
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0) {
    return absl::InternalError("getresuid: " + ErrnoText(errno));
  }
  if (ruid != user.uid || euid != user.uid || suid != user.uid || rgid != user.gid ||
      egid != user.gid || sgid != user.gid) {
    return absl::InternalError("privileges not dropped: ids are not " + user.name + "'s");
  }
  // The proof that matters: root is gone for good.
  if (setuid(0) == 0 || seteuid(0) == 0) {
    return absl::InternalError("privileges not dropped: root could be regained");
  }
  return absl::OkStatus();
}

}  // namespace etrnd::server
