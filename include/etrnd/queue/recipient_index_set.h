// The recipient indexes (positions in the message's RCPT list) of one message
// that are still queued for one domain. Eight bytes: up to two indexes inline
// (the common case: one recipient per domain per message), a heap vector
// beyond that. Move-only.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"

namespace etrnd::queue {

class RecipientIndexSet {
 public:
  // Inline slots store index + 1 (0 = empty), so indexes are below this.
  static constexpr uint32_t kIndexLimit = (1u << 31) - 1;

  RecipientIndexSet() = default;
  RecipientIndexSet(RecipientIndexSet&& other) noexcept : bits_(other.bits_) {
    other.bits_ = kEmptyInline;
  }
  RecipientIndexSet& operator=(RecipientIndexSet&& other) noexcept;
  RecipientIndexSet(const RecipientIndexSet&) = delete;
  RecipientIndexSet& operator=(const RecipientIndexSet&) = delete;
  ~RecipientIndexSet() { delete heap(); }

  // False if already present (or over kIndexLimit).
  bool Add(uint32_t index);
  // False if absent.
  bool Remove(uint32_t index);
  bool Contains(uint32_t index) const;
  uint32_t size() const;
  bool empty() const { return size() == 0; }
  void ForEach(absl::FunctionRef<void(uint32_t)> fn) const;
  std::vector<uint32_t> ToVector() const;
  // Bytes allocated outside the object (0 while inline).
  size_t HeapBytes() const;

 private:
  static constexpr uint64_t kEmptyInline = 1;  // low bit set: inline mode

  bool is_inline() const { return (bits_ & 1) != 0; }
  std::vector<uint32_t>* heap() const {
    return is_inline() ? nullptr : reinterpret_cast<std::vector<uint32_t>*>(bits_);
  }
  uint32_t first() const { return static_cast<uint32_t>(bits_ >> 1) & kIndexLimit; }
  uint32_t second() const { return static_cast<uint32_t>(bits_ >> 32); }
  void SetInline(uint32_t first, uint32_t second) {
    bits_ = (uint64_t{second} << 32) | (uint64_t{first} << 1) | 1;
  }

  uint64_t bits_ = kEmptyInline;
};

static_assert(sizeof(RecipientIndexSet) == 8);

}  // namespace etrnd::queue
