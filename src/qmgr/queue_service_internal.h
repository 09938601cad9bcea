// Constants and small helpers shared by the queue service's files in
// src/qmgr (intake, scheduling, flush jobs, completions, bounces, expiry).
// Not a public interface.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "etrnd/common/log.h"
#include "etrnd/config/domain_name.h"
#include "etrnd/control/control_request.h"
#include "etrnd/spool/segment_tracker.h"
#include "etrnd/spool/spool_reader.h"
#include "etrnd/spool/spool_record.h"

namespace etrnd::qmgr::queue_detail {

// Expired mail is looked for once a minute (--max_queue_lifetime is days),
// or ten times per lifetime when an operator sets a short one.
inline constexpr absl::Duration kExpirySweepIntervalMax = absl::Minutes(1);
inline constexpr absl::Duration kExpirySweepIntervalMin = absl::Milliseconds(200);

inline absl::Duration ExpirySweepInterval(absl::Duration lifetime) {
  return std::clamp(lifetime / 10, kExpirySweepIntervalMin, kExpirySweepIntervalMax);
}
// New mail for a healthy domain waits this long so one attempt carries a
// burst of arrivals instead of one connection per message.
inline constexpr absl::Duration kArrivalBatchDelay = absl::Milliseconds(20);
// Flushes running at once on one core; beyond it ETRN answers 458.
inline constexpr size_t kFlushesRunningMax = 4096;
// Messages a flush set-up takes from the index per loop turn: a domain with
// a million queued messages must not hold the reactor for one turn (1024
// took 1 to 8 ms a turn for a 1e5-message domain, allocations and page
// faults included).
inline constexpr size_t kFlushSetupSlice = 256;
// Domains an ATRN's walk looks at per loop turn (StartTurn); each may start
// a turn job (its set-up runs in later turns). 256 took 2-5 ms a slice
// (a log line per job started), 64 about 1 ms.
inline constexpr size_t kTurnStartSlice = 64;
// Items of a finished flush freed per loop turn: freeing 1e5 at once, when
// the last connection let go of the job, was a 7-12 ms turn.
inline constexpr size_t kFlushReleaseSlice = 4096;
// Domains a table reload re-examines per loop turn (OnTableChanged).
inline constexpr size_t kTableReindexSlice = 4096;
// Reads a flush job keeps issued ahead of the messages handed to
// connections, so a connection's next batch is in memory when it is due.
// Also the most a connection waits for before it starts.
inline constexpr size_t kFlushReadAheadMessages = 256;
// Due messages the expiry sweep takes per slice (the next slice starts once
// this one's reads are done).
inline constexpr size_t kExpirySweepSlice = 1024;
static_assert(kFlushesRunningMax * kFlushReadAheadMessages + kExpirySweepSlice <=
                  spool::kQueuedReadsMax,
              "flush read-ahead and the expiry sweep must fit the reader's queue");

inline std::string DomainOf(std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return "";
  return config::AsciiLower(address.substr(at + 1));
}

inline uint64_t QueueIdKey(std::string_view queue_id) {
  return control::ParseQueueId(queue_id).value_or(0);
}

inline spool::SegmentKey SegmentOf(const spool::RecordLocation& location) {
  return spool::SegmentKey{location.core, location.segment_id};
}

// The reply's code ("250 2.0.0 Ok" -> 250), 0 when it has none (a
// connection failure described in words).
inline int ReplyCode(std::string_view reply) {
  if (reply.size() < 3) return 0;
  int code = 0;
  for (size_t i = 0; i < 3; ++i) {
    if (reply[i] < '0' || reply[i] > '9') return 0;
    code = code * 10 + (reply[i] - '0');
  }
  return code;
}

// One line per recipient outcome, Postfix style:
// "<ID>: to=<rcpt>, relay=<next hop>, status=sent (250 ...)".
inline void LogDelivery(const std::string& queue_id, const std::string& recipient,
                        const std::string& domain, const std::string& relay,
                        std::string_view status, const std::string& reply) {
  const std::string_view event = status == "sent" ? std::string_view("delivered") : status;
  ETRND_LOG_INFO_EVENT(event,
                       {{"id", queue_id},
                        {"to", recipient},
                        {"domain", domain},
                        {"relay", relay},
                        {"status", status},
                        {"code", ReplyCode(reply)},
                        {"reply", reply}},
                       "%s: to=<%s>, relay=%s, status=%s (%s)", queue_id, recipient, relay,
                       std::string(status), reply);
}

}  // namespace etrnd::qmgr::queue_detail
