// The operator's holds (`etrnctl hold DOMAIN`), kept in <spool_dir>/holds so
// they survive restarts: a first line naming the format, then one lowercase
// domain per line, sorted. Rewritten whole and atomically (temp file,
// fdatasync, rename, directory fsync), so a reader never sees half a file.
// Pure: encoding and parsing only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace etrnd::control {

inline constexpr std::string_view kHoldsFileName = "holds";
inline constexpr std::string_view kHoldsTempFileName = "holds.tmp";
inline constexpr std::string_view kHoldsFileFirstLine = "# etrnd holds v1";
// More holds than this are refused: the whole set is rewritten per change.
inline constexpr size_t kHoldsMax = 100000;

// `domains` need not be sorted or unique.
std::string EncodeHolds(std::vector<std::string> domains);
// Blank lines and other '#' lines are ignored; a line that is not a valid
// domain is an error naming its line number.
absl::StatusOr<std::vector<std::string>> ParseHolds(std::string_view text);

}  // namespace etrnd::control
