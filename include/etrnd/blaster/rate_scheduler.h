// Open-loop schedule: message n is due at start + n / rate, whatever happened
// to earlier messages. Latency is then measured from a message's due time,
// so a slow server cannot hide its queueing by slowing the generator down
// (no coordinated omission).
#pragma once

#include <cstdint>

namespace etrnd::blaster {

class RateScheduler {
 public:
  // limit: how many messages to schedule in all (UINT64_MAX = no limit).
  RateScheduler(double rate_per_second, int64_t start_ns, uint64_t limit);

  // Due time of message n (0-based).
  int64_t DueNs(uint64_t n) const;
  // How many messages are due by now_ns that were not yet taken; Take()
  // hands them out one at a time with their due times.
  uint64_t DueCount(int64_t now_ns) const;
  bool Take(int64_t now_ns, int64_t* due_ns);
  // Due time of the next message not yet taken; -1 when all are taken.
  int64_t NextDueNs() const;
  uint64_t taken() const { return taken_; }
  bool exhausted() const { return taken_ >= limit_; }

 private:
  // Messages with DueNs(n) <= now_ns, capped by limit_.
  uint64_t DueBy(int64_t now_ns) const;

  double interval_ns_;
  int64_t start_ns_;
  uint64_t limit_;
  uint64_t taken_ = 0;
};

}  // namespace etrnd::blaster
