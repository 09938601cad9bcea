#include "etrnd/spool/spool_file_header.h"

#include <algorithm>

#include "etrnd/spool/crc32c.h"
#include "etrnd/spool/spool_record.h"

namespace etrnd::spool {
namespace {

constexpr size_t kVersionOffset = 4;
constexpr size_t kKindOffset = 6;
constexpr size_t kCrcOffset = 12;
// A version 1 file starts directly with a record: record magic, then the
// version byte at offset 8.
constexpr size_t kV1RecordVersionOffset = 8;
constexpr uint8_t kV1Version = 1;

uint32_t LoadU32(const char* p) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return value;
}

void PutLittleEndian(std::string* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(value >> (8 * i)));
}

bool HasMagicPrefix(std::string_view input, uint32_t magic) {
  const size_t bytes = std::min<size_t>(input.size(), 4);
  for (size_t i = 0; i < bytes; ++i) {
    if (static_cast<uint8_t>(input[i]) != static_cast<uint8_t>(magic >> (8 * i))) return false;
  }
  return true;
}

}  // namespace

void EncodeFileHeader(SpoolFileKind kind, std::string* out) {
  const size_t start = out->size();
  PutLittleEndian(out, kFileMagic, 4);
  PutLittleEndian(out, kFormatVersion, 2);
  PutLittleEndian(out, kind == SpoolFileKind::kSegment ? 1 : 2, 1);
  PutLittleEndian(out, 0, 1);
  PutLittleEndian(out, 0, 4);
  PutLittleEndian(out, Crc32c(std::string_view(*out).substr(start, kCrcOffset)), 4);
}

FileHeaderInfo DecodeFileHeader(std::string_view input) {
  FileHeaderInfo info;
  if (input.size() > kV1RecordVersionOffset && HasMagicPrefix(input, kRecordMagic) &&
      static_cast<uint8_t>(input[kV1RecordVersionOffset]) == kV1Version) {
    info.status = FileHeaderStatus::kOtherVersion;
    info.version = kV1Version;
    return info;
  }
  if (!HasMagicPrefix(input, kFileMagic)) {
    info.status = FileHeaderStatus::kDamaged;
    return info;
  }
  if (input.size() < kFileHeaderBytes) return info;  // kNeedMore
  if (Crc32c(input.substr(0, kCrcOffset)) != LoadU32(input.data() + kCrcOffset)) {
    info.status = FileHeaderStatus::kDamaged;
    return info;
  }
  const uint8_t kind = static_cast<uint8_t>(input[kKindOffset]);
  info.version = static_cast<uint8_t>(input[kVersionOffset]) |
                 static_cast<uint32_t>(static_cast<uint8_t>(input[kVersionOffset + 1])) << 8;
  if (kind != 1 && kind != 2) {
    info.status = FileHeaderStatus::kDamaged;
    return info;
  }
  info.status =
      info.version == kFormatVersion ? FileHeaderStatus::kCurrent : FileHeaderStatus::kOtherVersion;
  return info;
}

}  // namespace etrnd::spool
