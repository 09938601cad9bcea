// QueueService's flush job, shared by flush_job.cc (flushes to a next hop)
// and turn_jobs.cc (ODMR turns: the same job, its batches going to an ATRN
// connection instead). Internal to src/qmgr.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/time/time.h"
#include "etrnd/common/net_address.h"
#include "etrnd/config/domains_table.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/queue/message_key.h"
#include "etrnd/spool/spool_record.h"

namespace etrnd::qmgr {

// One run over a domain's queued messages towards its next hop.
struct QueueService::FlushJob {
  // One per message; a big customer's flush has 1e5 of them, so an item is
  // small and needs no allocation of its own until its message is read.
  struct Item {
    queue::MessageKey key;  // half the size of the RecordLocation it packs
    spool::RecordLocation location() const { return key.ToLocation(); }
    absl::InlinedVector<uint32_t, 2> recipient_indexes;  // this domain's recipients
    // Read from the spool ahead of its batch; freed once every recipient has
    // its outcome. Only kFlushReadAheadMessages are loaded at a time.
    std::unique_ptr<spool::SpoolMessage> message;
    enum class Read : uint8_t { kNotRead, kReading, kLoaded, kFailed } read = Read::kNotRead;
    bool connection_failed = false;  // deferred by the connection, not the message
    uint32_t outcomes_seen = 0;
    // Bounced recipients (index, reply), rare: allocated on the first one.
    std::unique_ptr<std::vector<std::pair<uint32_t, std::string>>> failures;
  };
  std::string domain;
  std::vector<SocketAddress> targets;
  std::vector<std::string> target_hosts;  // the name each target was found under
  // Opportunistic TLS failed its handshake at this target: later connections
  // there go in clear (like Postfix at security level "may").
  size_t clear_text_target = std::string::npos;
  std::string remote_mta;
  // Outbound TLS (table tls=); target_hosts say what a certificate must match.
  config::TlsPolicy tls_policy = config::TlsPolicy::kOpportunistic;
  std::vector<Item> items;          // grows slice by slice while setting up
  bool served = true;               // the domain has a table entry
  bool retry_dead_targets = false;  // asked for by name: see DomainState::etrn_named
  bool setup_done = false;
  std::optional<queue::MessageKey> setup_cursor;  // last key taken from the index
  size_t held = 0;       // unserved domain: customers' mail that stays queued
  size_t next_item = 0;  // next item to hand to a connection (or bounce)
  size_t next_read = 0;  // next item to read; reads run ahead of next_item
  size_t reads_outstanding = 0;
  std::optional<std::string> bounce_reply;  // the route cannot exist: bounce all
  std::deque<size_t> retry_tokens;          // items to try again at the next address
  size_t target_index = 0;
  size_t connections_open = 0;
  // Completions (and bounces) not yet durable: the flush is not over until
  // they are, or a new flush could send the same message again.
  size_t settling = 0;
  bool finished = false;
  size_t delivered = 0, deferred = 0, bounced = 0;
  bool host_failed = false;
  std::string last_error;
  absl::Time started;

  // ODMR: the batches go to this turn (on turn_core) instead of connections
  // to a next hop; the job is in QueueService::turn_jobs_ under turn_job_id.
  int turn_core = -1;
  uint64_t turn_id = 0;
  uint64_t turn_job_id = 0;

  bool HasWork() const;
  bool is_turn() const { return turn_core >= 0; }
};

}  // namespace etrnd::qmgr
