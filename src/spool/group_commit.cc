#include "etrnd/spool/group_commit.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "etrnd/common/check.h"
#include "etrnd/common/log.h"

namespace etrnd::spool {

namespace {

class RingCommitIo : public CommitIo {
 public:
  explicit RingCommitIo(reactor::Reactor& reactor) : reactor_(reactor) {}
  void WriteV(int fd, std::vector<iovec> iov, uint64_t offset,
              std::function<void(int res)> done) override {
    reactor_.WriteV(fd, std::move(iov), offset, std::move(done));
  }
  void WriteVDataSync(int fd, std::vector<iovec> iov, uint64_t offset,
                      std::function<void(int res)> done) override {
    reactor_.WriteVDataSync(fd, std::move(iov), offset, std::move(done));
  }
  void RunAfter(absl::Duration delay, std::function<void()> fn) override {
    reactor_.RunAfter(delay, std::move(fn));
  }

 private:
  reactor::Reactor& reactor_;
};

}  // namespace

GroupCommitter::GroupCommitter(reactor::Reactor& reactor, spool::RecordLogAppender& appender,
                               bool fsync)
    : ring_io_(std::make_unique<RingCommitIo>(reactor)),
      io_(*ring_io_),
      appender_(appender),
      fsync_(fsync) {}

GroupCommitter::GroupCommitter(CommitIo& io, spool::RecordLogAppender& appender, bool fsync)
    : io_(io), appender_(appender), fsync_(fsync) {}

void GroupCommitter::AwaitDurable(const spool::RecordLocation& location, DoneCallback done) {
  waiters_[Key(location.segment_id, location.offset)] = std::move(done);
}

void GroupCommitter::Flush() {
  if (in_flight_.has_value()) return;
  if (batch_interval_ > absl::ZeroDuration() && appender_.pending_bytes() > 0) {
    if (interval_timer_armed_) return;
    const absl::Time due = last_batch_started_ + batch_interval_;
    const absl::Time now = absl::Now();
    if (now < due) {
      // The timer, not the next loop turn: an idle core has none.
      interval_timer_armed_ = true;
      io_.RunAfter(due - now, [this] {
        interval_timer_armed_ = false;
        last_batch_started_ = absl::InfinitePast();
        Flush();
      });
      return;
    }
  }
  in_flight_ = appender_.TakeBatch();
  if (!in_flight_.has_value()) return;
  if (batch_interval_ > absl::ZeroDuration()) last_batch_started_ = absl::Now();
  WriteFrom(0);
}

void GroupCommitter::WriteFrom(size_t written) {
  // Never written to: the source of every batch's zero fill.
  alignas(4096) static char zeros[spool::kZeroFillChunkBytes];
  const std::string& bytes = in_flight_->bytes;
  const size_t zero_fill = in_flight_->zero_fill;
  ETRND_CHECK(zero_fill <= sizeof(zeros) && written < bytes.size() + zero_fill);
  std::vector<iovec> iov;
  if (written < bytes.size()) {
    iov.push_back({const_cast<char*>(bytes.data()) + written, bytes.size() - written});
  }
  const size_t zeros_written = written > bytes.size() ? written - bytes.size() : 0;
  if (zero_fill > zeros_written) iov.push_back({zeros, zero_fill - zeros_written});
  auto done = [this, written](int result) { OnWritten(written, result); };
  if (fsync_) {
    // The write is its own fdatasync (RWF_DSYNC): what it reports written is
    // durable, and the batch costs one trip through the kernel's workers.
    io_.WriteVDataSync(in_flight_->fd, std::move(iov), in_flight_->offset + written,
                       std::move(done));
  } else {
    io_.WriteV(in_flight_->fd, std::move(iov), in_flight_->offset + written, std::move(done));
  }
}

void GroupCommitter::OnWritten(size_t already_written, int result) {
  if (result < 0) {
    Fail(-result);
    return;
  }
  if (result == 0) {
    Fail(ENOSPC);
    return;
  }
  size_t written = already_written + static_cast<size_t>(result);
  if (written < in_flight_->bytes.size() + in_flight_->zero_fill) {
    WriteFrom(written);  // short write: continue where it stopped
    return;
  }
  OnSynced(0);  // with fsync_, every write was a data-sync write
}

void GroupCommitter::OnSynced(int result) {
  if (result < 0) {
    Fail(-result);
    return;
  }
  spool::SpoolBatch batch = std::move(*in_flight_);
  in_flight_.reset();
  appender_.BatchDurable(batch);
  ++batches_committed_;
  for (const spool::RecordLocation& location : batch.records) {
    Complete(location, absl::OkStatus());
  }
  Flush();  // what was appended meanwhile is the next group
}

void GroupCommitter::Fail(int error) {
  spool::SpoolBatch batch = std::move(*in_flight_);
  in_flight_.reset();
  ETRND_LOG_ERROR("spool write of %d records to file %d failed: %s", batch.records.size(),
                  batch.file_id, std::strerror(error));
  std::vector<spool::RecordLocation> dropped = appender_.BatchFailed(batch, error);
  absl::Status status = (error == ENOSPC || error == EDQUOT)
                            ? absl::ResourceExhaustedError(std::strerror(error))
                            : absl::InternalError(std::strerror(error));
  for (const spool::RecordLocation& location : batch.records) Complete(location, status);
  for (const spool::RecordLocation& location : dropped) Complete(location, status);
}

void GroupCommitter::Complete(const spool::RecordLocation& location, const absl::Status& status) {
  auto it = waiters_.find(Key(location.segment_id, location.offset));
  if (it == waiters_.end()) return;
  DoneCallback done = std::move(it->second);
  waiters_.erase(it);
  done(status);
}

}  // namespace etrnd::spool
