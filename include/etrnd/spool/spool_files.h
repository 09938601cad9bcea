// Names and small synchronous file helpers of the spool directory:
//   seg-<core>-<id 10 digits>.log    message records (segment files)
//   done-<core>-<id 10 digits>.log   completion records (completion logs)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace etrnd::spool {

enum class SpoolFileKind { kSegment, kCompletionLog };

struct SpoolFileName {
  SpoolFileKind kind = SpoolFileKind::kSegment;
  uint32_t core = 0;
  uint64_t id = 0;
};

// Identifies one segment file across cores (used by GC and the queue index).
struct SegmentKey {
  uint32_t core = 0;
  uint64_t segment_id = 0;

  friend bool operator==(const SegmentKey&, const SegmentKey&) = default;
  template <typename H>
  friend H AbslHashValue(H state, const SegmentKey& key) {
    return H::combine(std::move(state), key.core, key.segment_id);
  }
};

std::string SpoolFilePath(std::string_view spool_dir, SpoolFileKind kind, uint32_t core,
                          uint64_t id);
inline std::string SegmentPath(std::string_view spool_dir, uint32_t core, uint64_t id) {
  return SpoolFilePath(spool_dir, SpoolFileKind::kSegment, core, id);
}
inline std::string CompletionLogPath(std::string_view spool_dir, uint32_t core, uint64_t id) {
  return SpoolFilePath(spool_dir, SpoolFileKind::kCompletionLog, core, id);
}

// Parses a bare file name (no directory); nullopt for anything else.
std::optional<SpoolFileName> ParseSpoolFileName(std::string_view name);

// Makes the directory entries (created or removed files) durable.
absl::Status FsyncDirectory(const std::string& dir);

// Creates the spool directory if missing.
absl::Status EnsureDirectory(const std::string& dir);

// errno as a Status with context.
absl::Status ErrnoStatus(int error, std::string_view what, std::string_view path);

}  // namespace etrnd::spool
