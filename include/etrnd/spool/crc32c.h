// CRC32C (Castagnoli), the checksum of every spool record. Uses the SSE4.2
// crc32 instruction when the CPU has it (about 20x faster than the table),
// so checksumming never dominates a group commit or a recovery scan.
#pragma once

#include <cstdint>
#include <string_view>

namespace etrnd::spool {

// Extends `crc` (the CRC32C of earlier bytes, 0 for none) over `data`.
uint32_t Crc32cExtend(uint32_t crc, std::string_view data);

inline uint32_t Crc32c(std::string_view data) { return Crc32cExtend(0, data); }

// The portable table implementation; exposed so tests can compare both paths.
uint32_t Crc32cExtendPortable(uint32_t crc, std::string_view data);

// True when Crc32cExtend uses the SSE4.2 instruction on this CPU.
bool Crc32cUsesHardware();

}  // namespace etrnd::spool
