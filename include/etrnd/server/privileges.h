// Running as an unprivileged user (--user): etrnd starts as root only to bind
// ports below 1024, then every thread drops to the named user before the
// first session is served.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace etrnd::server {

struct RunAsUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Resolves NAME through NSS (passwd). Refuses root: dropping to root would
// keep every privilege while claiming to have shed them.
absl::StatusOr<RunAsUser> LookupRunAsUser(const std::string& name);

// Gives PATH and everything below it (no symlink is followed) to the user, so
// the spool files created while still root stay writable after the drop.
absl::Status ChownTree(const std::string& path, const RunAsUser& user);

// initgroups, setgid, setuid, in that order (setuid last: it removes the right
// to change groups). glibc applies set*id to every thread of the process.
// Verifies afterwards that real, effective and saved ids are the user's and
// that root cannot be regained; any failure is an error the caller must not
// survive.
absl::Status DropPrivileges(const RunAsUser& user);

}  // namespace etrnd::server
