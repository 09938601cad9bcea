// Group commit of one core's record log through its io_uring: everything
// appended during a loop turn is written with one writev that is also its
// fdatasync (RWF_DSYNC); the waiters of those records are told only after it
// completes.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/spool/record_log_appender.h"

namespace etrnd::server {

class GroupCommitter {
 public:
  using DoneCallback = std::function<void(absl::Status)>;

  // With fsync=false a record counts as durable once written (page cache:
  // survives kill -9, not a power cut).
  GroupCommitter(reactor::Reactor& reactor, spool::RecordLogAppender& appender, bool fsync);

  // `location` was just returned by the appender.
  void AwaitDurable(const spool::RecordLocation& location, DoneCallback done);
  // Starts the next batch if none is in flight (the reactor's loop-end hook).
  void Flush();
  bool idle() const { return !in_flight_.has_value() && waiters_.empty(); }
  uint64_t batches_committed() const { return batches_committed_; }

 private:
  using Key = std::pair<uint64_t, uint64_t>;  // (file id, offset)

  void WriteFrom(size_t written);
  void OnWritten(size_t already_written, int result);
  void OnSynced(int result);
  void Complete(const spool::RecordLocation& location, const absl::Status& status);
  void Fail(int error);

  reactor::Reactor& reactor_;
  spool::RecordLogAppender& appender_;
  const bool fsync_;
  std::optional<spool::SpoolBatch> in_flight_;
  absl::flat_hash_map<Key, DoneCallback> waiters_;
  uint64_t batches_committed_ = 0;
};

}  // namespace etrnd::server
