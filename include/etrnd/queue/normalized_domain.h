// A domain as the queue index keys it: ASCII-lowercased, one trailing dot
// removed, at most kDomainBytesMax bytes. Built in a fixed buffer so lookups
// (every ETRN, every RCPT) allocate nothing.
#pragma once

#include <cstddef>
#include <string_view>

#include "etrnd/common/protocol_limits.h"

namespace etrnd::queue {

inline constexpr size_t kDomainBytesMax = kDomainOctetsMax;

class NormalizedDomain {
 public:
  explicit NormalizedDomain(std::string_view domain);

  // False for an empty or over-long domain.
  bool valid() const { return size_ > 0; }
  std::string_view view() const { return std::string_view(buffer_, size_); }

 private:
  char buffer_[kDomainBytesMax];
  size_t size_ = 0;
};

}  // namespace etrnd::queue
