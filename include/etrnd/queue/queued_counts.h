// What is queued in a set of domains (one domain, or a domain and every
// domain below it): the numbers an ETRN reply is made of. `messages` sums
// per domain, so a message queued for two of the domains counts twice
// (SPEC 6: "summed over the matched domains").
#pragma once

#include <cstdint>

#include "etrnd/common/check.h"

namespace etrnd::queue {

struct QueuedCounts {
  uint64_t messages = 0;
  uint64_t held_messages = 0;  // of `messages`: in domains held by the operator
  uint32_t domains = 0;
  uint32_t held_domains = 0;  // of `domains`

  bool empty() const { return domains == 0; }
  uint64_t unheld_messages() const { return messages - held_messages; }

  QueuedCounts& operator+=(const QueuedCounts& other) {
    messages += other.messages;
    held_messages += other.held_messages;
    domains += other.domains;
    held_domains += other.held_domains;
    return *this;
  }
  // Only what was added before may be taken away.
  QueuedCounts& operator-=(const QueuedCounts& other) {
    ETRND_CHECK(messages >= other.messages && held_messages >= other.held_messages &&
                domains >= other.domains && held_domains >= other.held_domains);
    messages -= other.messages;
    held_messages -= other.held_messages;
    domains -= other.domains;
    held_domains -= other.held_domains;
    return *this;
  }
  friend bool operator==(const QueuedCounts&, const QueuedCounts&) = default;
};

}  // namespace etrnd::queue
