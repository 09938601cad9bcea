// The 16-byte header at the start of every segment file and completion log:
//
//   magic u32 ("ETSF") | format_version u16 | kind u8 | reserved u8 |
//   reserved u32 | crc32c u32 (of the 12 bytes before it)
//
// The format version says how the records after it are framed (this release
// writes and reads kFormatVersion only). Recovery moves a file of another
// version aside to <spool>/damaged/ untouched, rather than guessing at it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "etrnd/spool/spool_files.h"

namespace etrnd::spool {

inline constexpr uint32_t kFileMagic = 0x46535445;  // "ETSF" little-endian
inline constexpr uint16_t kFormatVersion = 2;
inline constexpr size_t kFileHeaderBytes = 16;

enum class FileHeaderStatus {
  kCurrent,       // valid header of kFormatVersion
  kOtherVersion,  // valid header of another version, or a headerless
                  // version 1 file (the release before file headers)
  kDamaged,       // not a valid header: the records may still be intact
  kNeedMore,      // fewer than kFileHeaderBytes, all plausible so far
};

struct FileHeaderInfo {
  FileHeaderStatus status = FileHeaderStatus::kNeedMore;
  uint32_t version = 0;  // meaningful for kCurrent and kOtherVersion
};

// Appends the header of a new file of `kind` to `out`.
void EncodeFileHeader(SpoolFileKind kind, std::string* out);

// Classifies the start of a file.
FileHeaderInfo DecodeFileHeader(std::string_view input);

}  // namespace etrnd::spool
