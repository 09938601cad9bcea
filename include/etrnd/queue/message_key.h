// Compact (16-byte) reference to a spooled message, as the queue index stores
// it: the record location packed (core in the top 24 bits of `segment`,
// segment id in the low 40). Offsets fit 32 bits because segment files are
// bounded by spool::kFileBytesMaxLimit.
#pragma once

#include <cstdint>
#include <limits>

#include "etrnd/common/check.h"
#include "etrnd/spool/spool_record.h"

namespace etrnd::queue {

inline constexpr int kSegmentIdBits = 40;
inline constexpr uint64_t kSegmentIdMask = (uint64_t{1} << kSegmentIdBits) - 1;
inline constexpr uint64_t kCoreLimit = uint64_t{1} << (64 - kSegmentIdBits);

struct MessageKey {
  uint64_t segment = 0;  // core << 40 | segment_id
  uint32_t offset = 0;
  uint32_t length = 0;  // carried along for reading; not part of identity

  // A location that does not fit the packing would alias another message.
  static MessageKey FromLocation(const spool::RecordLocation& location) {
    ETRND_CHECK(location.core < kCoreLimit && location.segment_id <= kSegmentIdMask &&
                location.offset <= std::numeric_limits<uint32_t>::max());
    return MessageKey{
        (uint64_t{location.core} << kSegmentIdBits) | (location.segment_id & kSegmentIdMask),
        static_cast<uint32_t>(location.offset), location.length};
  }
  spool::RecordLocation ToLocation() const {
    return spool::RecordLocation{static_cast<uint32_t>(segment >> kSegmentIdBits),
                                 segment & kSegmentIdMask, offset, length};
  }

  // Identity is the position; a key rebuilt without its length still matches.
  friend bool operator==(const MessageKey& a, const MessageKey& b) {
    return a.segment == b.segment && a.offset == b.offset;
  }
  // Spool order (core, segment, offset): the order a flush walks a domain.
  friend bool operator<(const MessageKey& a, const MessageKey& b) {
    return a.segment != b.segment ? a.segment < b.segment : a.offset < b.offset;
  }
  template <typename H>
  friend H AbslHashValue(H state, const MessageKey& key) {
    return H::combine(std::move(state), key.segment, key.offset);
  }
};

static_assert(sizeof(MessageKey) == 16);

}  // namespace etrnd::queue
