// Frees a big vector a slice per loop turn, from the back: the destructors
// of 1e5 flush items in one turn took 7-12 ms. Internal to src/qmgr.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

#include "etrnd/reactor/reactor.h"

namespace etrnd::qmgr {

template <typename T>
void ReleaseInSlices(reactor::Reactor& reactor, std::vector<T> items, size_t slice) {
  if (items.size() <= slice) return;  // freed here, in this turn
  struct Rest {
    static void Next(reactor::Reactor& reactor, const std::shared_ptr<std::vector<T>>& rest,
                     size_t slice) {
      const size_t take = std::min(slice, rest->size());
      rest->erase(rest->end() - static_cast<std::ptrdiff_t>(take), rest->end());
      if (!rest->empty()) reactor.Post([&reactor, rest, slice] { Next(reactor, rest, slice); });
    }
  };
  Rest::Next(reactor, std::make_shared<std::vector<T>>(std::move(items)), slice);
}

}  // namespace etrnd::qmgr
