// A ring of provided receive buffers (IORING_REGISTER_PBUF_RING). liburing 2.3
// has no io_uring_setup_buf_ring, so the ring memory is mmap()ed here and
// registered with io_uring_register_buf_ring.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace etrnd::reactor {

class ProvidedBuffers {
 public:
  static absl::StatusOr<ProvidedBuffers*> Create(io_uring* ring, uint16_t group_id,
                                                 unsigned buffer_count, unsigned buffer_bytes);
  ~ProvidedBuffers();

  uint16_t group_id() const { return group_id_; }
  // The bytes a completion filled: buffer id from the CQE flags.
  std::string_view View(uint16_t buffer_id, unsigned length) const;
  // Hands a consumed buffer back to the kernel.
  void Recycle(uint16_t buffer_id);

 private:
  ProvidedBuffers() = default;
  io_uring* ring_ = nullptr;
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  char* memory_ = nullptr;
  size_t memory_bytes_ = 0;
  uint16_t group_id_ = 0;
  unsigned buffer_count_ = 0;
  unsigned buffer_bytes_ = 0;
};

}  // namespace etrnd::reactor
