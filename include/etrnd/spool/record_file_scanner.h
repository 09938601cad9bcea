// Streams the records of one spool file through a large buffer (one read per
// many records), validating each, and classifies how the file ends. Used by
// recovery; synchronous (it runs before the server greets anyone).
#pragma once

#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "etrnd/spool/spool_record.h"

namespace etrnd::spool {

inline constexpr size_t kScanBufferBytes = 8u << 20;

enum class FileEnd {
  kClean,          // every byte belongs to a valid record
  kTornTail,       // the last record is incomplete, damaged at the very end,
                   // or followed by zero fill: a write cut short by a crash
  kCorruptMiddle,  // a damaged record with more data after it
};

struct ScanResult {
  FileEnd end = FileEnd::kClean;
  uint64_t valid_bytes = 0;  // offset just after the last valid record
  uint64_t file_bytes = 0;
  uint64_t records = 0;
};

// Calls `on_record(offset, record)` for every valid record, in order, until
// the first invalid one. The record's payload is valid only during the call.
absl::StatusOr<ScanResult> ScanRecordFile(
    const std::string& path,
    absl::FunctionRef<void(uint64_t offset, const DecodedRecord& record)> on_record);

}  // namespace etrnd::spool
