// Per-thread summary of repeated log events: one line per (event, client) per
// interval, the repeats in between counted and reported as "N more in the
// last Xs". A client that repeats a refused command thousands of times a
// second then costs a line per second, not a line per command. Single-threaded
// (each reactor thread has its own, see log.h); bounded in keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace etrnd {

inline constexpr absl::Duration kRepeatIntervalDefault = absl::Seconds(1);
// Keys tracked per thread; beyond it a new key is logged untracked (the
// global LogRateBound still applies).
inline constexpr size_t kRepeatKeysMaxDefault = 4096;

class RepeatSummarizer {
 public:
  struct Summary {
    std::string event;
    std::string client;
    int level = 0;
    uint64_t suppressed = 0;
    absl::Duration over;  // since the key's last line
  };

  explicit RepeatSummarizer(absl::Duration interval = kRepeatIntervalDefault,
                            size_t keys_max = kRepeatKeysMaxDefault);

  // True: write this occurrence, with *suppressed repeats (over *over) not
  // written since the key's last line. False: counted, not written.
  bool Admit(std::string_view event, std::string_view client, int level, absl::Time now,
             uint64_t* suppressed, absl::Duration* over);
  // Keys whose interval has passed with repeats pending: their summaries
  // (the key's window restarts now). Keys idle for an interval are forgotten.
  std::vector<Summary> TakeDue(absl::Time now);
  size_t keys() const { return entries_.size(); }

 private:
  struct Entry {
    absl::Time last_written;
    uint64_t suppressed = 0;
    int level = 0;
  };
  absl::Duration interval_;
  size_t keys_max_;
  std::string key_;  // reused lookup buffer: no allocation per event
  absl::flat_hash_map<std::string, Entry> entries_;  // "event\x1fclient"
};

}  // namespace etrnd
