#include "provided_buffers.h"

#include <sys/mman.h>

#include <cstring>
#include <string>

namespace etrnd::reactor {

absl::StatusOr<ProvidedBuffers*> ProvidedBuffers::Create(io_uring* ring, uint16_t group_id,
                                                         unsigned buffer_count,
                                                         unsigned buffer_bytes) {
  if (buffer_count == 0 || (buffer_count & (buffer_count - 1)) != 0 || buffer_count > 32768) {
    return absl::InvalidArgumentError("receive buffer count must be a power of two <= 32768");
  }
  auto* buffers = new ProvidedBuffers();
  buffers->ring_ = ring;
  buffers->group_id_ = group_id;
  buffers->buffer_count_ = buffer_count;
  buffers->buffer_bytes_ = buffer_bytes;
  buffers->buf_ring_bytes_ = buffer_count * sizeof(io_uring_buf);
  void* ring_memory = mmap(nullptr, buffers->buf_ring_bytes_, PROT_READ | PROT_WRITE,
                           MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  buffers->memory_bytes_ = static_cast<size_t>(buffer_count) * buffer_bytes;
  // Populated now: the kernel fills the buffers round-robin, so they all
  // become resident sooner or later anyway; counting them in the base from
  // the start keeps RSS a fixed base plus a bound per session.
  void* data_memory = mmap(nullptr, buffers->memory_bytes_, PROT_READ | PROT_WRITE,
                           MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
  if (ring_memory == MAP_FAILED || data_memory == MAP_FAILED) {
    if (ring_memory != MAP_FAILED) munmap(ring_memory, buffers->buf_ring_bytes_);
    if (data_memory != MAP_FAILED) munmap(data_memory, buffers->memory_bytes_);
    delete buffers;
    return absl::ResourceExhaustedError("mmap of receive buffers failed");
  }
  buffers->buf_ring_ = static_cast<io_uring_buf_ring*>(ring_memory);
  buffers->memory_ = static_cast<char*>(data_memory);

  io_uring_buf_reg registration;
  std::memset(&registration, 0, sizeof(registration));
  registration.ring_addr = reinterpret_cast<uint64_t>(ring_memory);
  registration.ring_entries = buffer_count;
  registration.bgid = group_id;
  int result = io_uring_register_buf_ring(ring, &registration, 0);
  if (result != 0) {
    munmap(ring_memory, buffers->buf_ring_bytes_);
    munmap(data_memory, buffers->memory_bytes_);
    buffers->buf_ring_ = nullptr;
    buffers->memory_ = nullptr;
    delete buffers;
    return absl::UnavailableError(std::string("io_uring_register_buf_ring: ") +
                                  std::strerror(-result));
  }
  io_uring_buf_ring_init(buffers->buf_ring_);
  int mask = io_uring_buf_ring_mask(buffer_count);
  for (unsigned i = 0; i < buffer_count; ++i) {
    io_uring_buf_ring_add(buffers->buf_ring_,
                          buffers->memory_ + static_cast<size_t>(i) * buffer_bytes, buffer_bytes,
                          static_cast<uint16_t>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buffers->buf_ring_, static_cast<int>(buffer_count));
  return buffers;
}

ProvidedBuffers::~ProvidedBuffers() {
  if (buf_ring_ != nullptr) {
    io_uring_unregister_buf_ring(ring_, group_id_);
    munmap(buf_ring_, buf_ring_bytes_);
  }
  if (memory_ != nullptr) munmap(memory_, memory_bytes_);
}

std::string_view ProvidedBuffers::View(uint16_t buffer_id, unsigned length) const {
  return std::string_view(memory_ + static_cast<size_t>(buffer_id) * buffer_bytes_, length);
}

void ProvidedBuffers::Recycle(uint16_t buffer_id) {
  io_uring_buf_ring_add(buf_ring_, memory_ + static_cast<size_t>(buffer_id) * buffer_bytes_,
                        buffer_bytes_, buffer_id, io_uring_buf_ring_mask(buffer_count_), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

}  // namespace etrnd::reactor
