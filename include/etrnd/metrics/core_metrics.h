// src/metrics owns etrnd's observability numbers: the counters and
// histograms each core keeps for itself (CoreMetrics), the registry and
// Prometheus text renderer a scrape fills from every core's snapshot, and
// the /metrics HTTP endpoint. It must never take a lock or an atomic on the
// request path, never let one core write another core's numbers (a scrape
// copies each core's CoreMetrics on that core, through Post()), never block
// a reactor thread, and never know SMTP, the spool or the queue: the server
// glue hands it plain numbers.
#pragma once

#include <cstdint>
#include <map>

#include "etrnd/metrics/histogram.h"
#include "etrnd/metrics/registry.h"

namespace etrnd::metrics {

// Counts per SMTP reply code (three digits: at most 500 entries).
class CodeCounter {
 public:
  void Add(int reply_code);
  const std::map<int, uint64_t>& counts() const { return counts_; }

 private:
  std::map<int, uint64_t> counts_;
};

// One core's numbers; only that core's thread touches them.
struct CoreMetrics {
  uint64_t connections_total = 0;
  uint64_t messages_accepted_total = 0;
  uint64_t received_bytes_total = 0;
  CodeCounter messages_refused;  // by the reply that refused them
  CodeCounter etrn_replies;      // every ETRN answered, by reply code
  CodeCounter atrn_replies;      // every ODMR ATRN answered, by reply code
  uint64_t deliveries_delivered = 0;
  uint64_t deliveries_deferred = 0;
  uint64_t deliveries_bounced = 0;
  uint64_t bounces_total = 0;  // DSNs queued
  // Compaction: messages moved out of mostly-dead segments, and segments
  // whose compaction pass ended.
  uint64_t spool_compacted_messages = 0;
  uint64_t spool_compacted_segments = 0;
  // SMTP AUTH outcomes: valid, invalid, refused while locked out (454),
  // refused with the verifier's queue full (454).
  uint64_t auth_ok = 0;
  uint64_t auth_failed = 0;
  uint64_t auth_locked_out = 0;
  uint64_t auth_busy = 0;
  // ETRNs forwarded to --peers, by what became of them (copied from
  // src/peers at each scrape): in time, late, link connecting, peer down,
  // dropped over the per-link bound.
  uint64_t peer_etrn_in_time = 0;
  uint64_t peer_etrn_late = 0;
  uint64_t peer_etrn_connecting = 0;
  uint64_t peer_etrn_down = 0;
  uint64_t peer_etrn_dropped = 0;
  Histogram etrn_reply_seconds{kReplyBucketsSeconds};
  Histogram data_commit_seconds{kReplyBucketsSeconds};
  Histogram delivery_seconds{kDeliveryBucketsSeconds};
  Histogram loop_turn_seconds{kLoopTurnBucketsSeconds};
};

// Levels read on the core when the scrape reaches it.
struct CoreGauges {
  uint64_t queued_messages = 0;
  uint64_t queued_recipients = 0;
  uint64_t queued_domains = 0;
  uint64_t open_connections = 0;
};

struct CoreSnapshot {
  int core = 0;
  CoreMetrics metrics;
  CoreGauges gauges;
};

// Declares every etrnd family (HELP and TYPE), in output order.
void DeclareEtrndMetrics(Registry* registry);
// Adds one core's snapshot: counters and histograms sum over cores, the
// queue gauges keep a core="N" label.
void AddCoreSnapshot(const CoreSnapshot& snapshot, Registry* registry);
// The process-wide gauge of spool bytes on disk.
void AddSpoolBytes(uint64_t bytes, Registry* registry);

}  // namespace etrnd::metrics
