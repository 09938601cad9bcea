// Reads the records of one spool file (mapped read-only), validating each,
// and finds the damage between them. Used by recovery; synchronous (it runs
// before the server greets anyone).
//
// After a damaged record the scan resyncs: it searches for the next record
// magic whose header CRC and payload CRC both check out and carries on from
// there. So damage costs only the damaged bytes, never the intact records
// after them. Damage that reaches the end of the file is a torn tail (a write
// cut short by a crash, never acknowledged).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "etrnd/spool/spool_file_header.h"
#include "etrnd/spool/spool_record.h"

namespace etrnd::spool {

// Bytes of a file that belong to no valid record.
struct DamagedRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool torn_tail = false;  // reaches the end of the file
  bool all_zero = false;   // nothing in it worth keeping
};

struct ScanResult {
  // kCurrent: records were scanned (an empty file, or one whose header is
  // damaged, counts as current). kOtherVersion: nothing was read.
  FileHeaderStatus format = FileHeaderStatus::kCurrent;
  uint32_t version = kFormatVersion;
  uint64_t file_bytes = 0;
  uint64_t records = 0;
  uint64_t damaged_ranges = 0;  // torn tail included
  uint64_t damaged_bytes = 0;
  // Where the file may be cut: the offset of the torn tail, else file_bytes.
  uint64_t valid_bytes = 0;
};

// Calls `on_record(offset, record)` for every valid record and
// `on_damage(range, bytes)` for every damaged range, in file order. The
// views are valid only during the call.
absl::StatusOr<ScanResult> ScanRecordFile(
    const std::string& path,
    absl::FunctionRef<void(uint64_t offset, const DecodedRecord& record)> on_record,
    absl::FunctionRef<void(const DamagedRange& range, std::string_view bytes)> on_damage);

}  // namespace etrnd::spool
