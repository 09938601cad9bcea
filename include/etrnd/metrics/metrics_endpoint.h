// The /metrics HTTP endpoint on one reactor: one request per connection
// (parsed by HttpRequestParser), answered once the asynchronous scrape has
// rendered the text, then closed. Bounded: request head size, connections
// per reactor, and a deadline for the whole exchange.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "etrnd/common/net_address.h"
#include "etrnd/reactor/reactor.h"

namespace etrnd::metrics {

// A request that is not answered within this is dropped (408 if it never
// finished its head): a slow scraper cannot hold a slot.
inline constexpr absl::Duration kHttpExchangeTimeout = absl::Seconds(10);
// Scrapers are few; more concurrent connections per reactor are refused.
inline constexpr size_t kHttpConnectionsPerReactorMax = 64;

// Renders the whole exposition text and hands it to `done`, on the calling
// reactor's thread, possibly later (it gathers every core's numbers).
using ScrapeFn = std::function<void(std::function<void(std::string text)> done)>;

// Listens on `address` on this reactor (SO_REUSEPORT like every listener).
absl::Status ListenMetrics(reactor::Reactor& reactor, const SocketAddress& address,
                           ScrapeFn scrape);

}  // namespace etrnd::metrics
