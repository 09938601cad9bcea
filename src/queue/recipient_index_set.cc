#include "etrnd/queue/recipient_index_set.h"

#include <algorithm>

namespace etrnd::queue {

RecipientIndexSet& RecipientIndexSet::operator=(RecipientIndexSet&& other) noexcept {
  if (this != &other) {
    delete heap();
    bits_ = other.bits_;
    other.bits_ = kEmptyInline;
  }
  return *this;
}

bool RecipientIndexSet::Add(uint32_t index) {
  if (index >= kIndexLimit || Contains(index)) return false;
  if (std::vector<uint32_t>* many = heap()) {
    many->push_back(index);
    return true;
  }
  if (first() == 0) {
    SetInline(index + 1, second());
  } else if (second() == 0) {
    SetInline(first(), index + 1);
  } else {
    auto* many = new std::vector<uint32_t>{first() - 1, second() - 1, index};
    bits_ = reinterpret_cast<uint64_t>(many);
  }
  return true;
}

bool RecipientIndexSet::Remove(uint32_t index) {
  if (std::vector<uint32_t>* many = heap()) {
    auto it = std::find(many->begin(), many->end(), index);
    if (it == many->end()) return false;
    *it = many->back();
    many->pop_back();
    if (many->size() <= 2) {  // back to inline
      const uint32_t a = many->size() > 0 ? (*many)[0] + 1 : 0;
      const uint32_t b = many->size() > 1 ? (*many)[1] + 1 : 0;
      delete many;
      SetInline(a, b);
    }
    return true;
  }
  if (index >= kIndexLimit) return false;
  if (first() == index + 1) {
    SetInline(second(), 0);
  } else if (second() == index + 1) {
    SetInline(first(), 0);
  } else {
    return false;
  }
  return true;
}

bool RecipientIndexSet::Contains(uint32_t index) const {
  if (const std::vector<uint32_t>* many = heap()) {
    return std::find(many->begin(), many->end(), index) != many->end();
  }
  return index < kIndexLimit && (first() == index + 1 || second() == index + 1);
}

uint32_t RecipientIndexSet::size() const {
  if (const std::vector<uint32_t>* many = heap()) return static_cast<uint32_t>(many->size());
  return (first() != 0 ? 1 : 0) + (second() != 0 ? 1 : 0);
}

void RecipientIndexSet::ForEach(absl::FunctionRef<void(uint32_t)> fn) const {
  if (const std::vector<uint32_t>* many = heap()) {
    for (uint32_t index : *many) fn(index);
    return;
  }
  if (first() != 0) fn(first() - 1);
  if (second() != 0) fn(second() - 1);
}

std::vector<uint32_t> RecipientIndexSet::ToVector() const {
  std::vector<uint32_t> indexes;
  indexes.reserve(size());
  ForEach([&indexes](uint32_t index) { indexes.push_back(index); });
  return indexes;
}

size_t RecipientIndexSet::HeapBytes() const {
  const std::vector<uint32_t>* many = heap();
  return many ? sizeof(*many) + many->capacity() * sizeof(uint32_t) : 0;
}

}  // namespace etrnd::queue
