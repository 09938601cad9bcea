#include "etrnd/reactor/reactor_mesh.h"

#include "etrnd/common/check.h"

namespace etrnd::reactor {

ReactorMesh::ReactorMesh(size_t reactor_count)
    : size_(reactor_count), members_(new std::atomic<Reactor*>[reactor_count]) {
  ETRND_CHECK(reactor_count > 0);
  pairs_.reserve(size_ * size_);
  for (size_t i = 0; i < size_ * size_; ++i) {
    // The diagonal (a reactor to itself) never carries tasks: PostTo(self)
    // is a local post. Allocated anyway to keep the indexing plain.
    pairs_.push_back(std::make_unique<CrossCorePair>());
  }
  for (size_t i = 0; i < size_; ++i) members_[i].store(nullptr, std::memory_order_relaxed);
}

ReactorMesh::~ReactorMesh() = default;

}  // namespace etrnd::reactor
