// <spool>/damaged/: where recovery keeps what it cannot use, for an operator
// to inspect; etrnd never reads or deletes anything in it.
//   <file>.offset-<offset>.length-<length>   a copy of damaged bytes of <file>
//   <file>                                   a whole file moved aside (a
//                                            format version this release
//                                            cannot read, or an unreadable file)
// Both are idempotent: a restart that meets the same damage rewrites the same
// copy.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace etrnd::spool {

inline constexpr std::string_view kDamagedDirName = "damaged";
// Bound on the names tried when moving a file aside onto an existing name.
inline constexpr int kMoveAsideNamesMax = 1000;

std::string DamagedDir(std::string_view spool_dir);

// Durably copies `bytes` (found at `offset` of `file_name` in the spool
// directory) into damaged/. Returns the copy's path.
absl::StatusOr<std::string> SaveDamagedRange(const std::string& spool_dir,
                                             std::string_view file_name, uint64_t offset,
                                             std::string_view bytes);

// Durably renames <spool>/<file_name> into damaged/ (adding ".<n>" when the
// name is taken there). Returns the new path.
absl::StatusOr<std::string> MoveAside(const std::string& spool_dir, std::string_view file_name);

}  // namespace etrnd::spool
