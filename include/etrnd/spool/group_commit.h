// Group commit of one core's record log through its io_uring: everything
// appended during a loop turn is written with one writev that is also its
// fdatasync (RWF_DSYNC); the waiters of those records are told only after it
// completes. The writes go through a CommitIo: the reactor's ring in etrnd,
// a fake in tests.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/spool/record_log_appender.h"

namespace etrnd::spool {

// The asynchronous writes of a group commit (results as io_uring gives
// them: bytes or -errno).
class CommitIo {
 public:
  virtual ~CommitIo() = default;
  virtual void WriteV(int fd, std::vector<iovec> iov, uint64_t offset,
                      std::function<void(int res)> done) = 0;
  // A write that is also its fdatasync (RWF_DSYNC).
  virtual void WriteVDataSync(int fd, std::vector<iovec> iov, uint64_t offset,
                              std::function<void(int res)> done) = 0;
  // Runs fn once, after delay (on the committer's thread).
  virtual void RunAfter(absl::Duration delay, std::function<void()> fn) = 0;
};

class GroupCommitter {
 public:
  using DoneCallback = std::function<void(absl::Status)>;

  // With fsync=false a record counts as durable once written (page cache:
  // survives kill -9, not a power cut). Writes through the reactor's ring.
  GroupCommitter(reactor::Reactor& reactor, spool::RecordLogAppender& appender, bool fsync);
  // Writes through `io` (which outlives the committer).
  GroupCommitter(CommitIo& io, spool::RecordLogAppender& appender, bool fsync);

  // `location` was just returned by the appender.
  void AwaitDurable(const spool::RecordLocation& location, DoneCallback done);
  // Starts the next batch if none is in flight (the reactor's loop-end hook)
  // and the last one started at least the batch interval ago.
  void Flush();
  // Batches start at most this often (0, the default: every Flush()). A
  // record then waits up to this long for its batch; fewer, bigger syncs
  // leave the disk to the log whose writers wait (segments: clients' DATA).
  void set_batch_interval(absl::Duration interval) { batch_interval_ = interval; }
  bool idle() const { return !in_flight_.has_value() && waiters_.empty(); }
  uint64_t batches_committed() const { return batches_committed_; }

 private:
  using Key = std::pair<uint64_t, uint64_t>;  // (file id, offset)

  void WriteFrom(size_t written);
  void OnWritten(size_t already_written, int result);
  void OnSynced(int result);
  void Complete(const spool::RecordLocation& location, const absl::Status& status);
  void Fail(int error);

  std::unique_ptr<CommitIo> ring_io_;  // the reactor's, when constructed with one
  CommitIo& io_;
  spool::RecordLogAppender& appender_;
  const bool fsync_;
  std::optional<spool::SpoolBatch> in_flight_;
  absl::Duration batch_interval_ = absl::ZeroDuration();
  absl::Time last_batch_started_ = absl::InfinitePast();
  bool interval_timer_armed_ = false;
  absl::flat_hash_map<Key, DoneCallback> waiters_;
  uint64_t batches_committed_ = 0;
};

}  // namespace etrnd::spool
