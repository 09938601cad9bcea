// The parts of Core that compaction and segment GC use: the copy of a
// moved message, and the completion logs that go once every segment they
// point into is gone (kept apart from core.cc, which is about the loop).
#include <fcntl.h>

#include <utility>

#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/server/core.h"
#include "etrnd/spool/spool_files.h"

namespace etrnd::server {

void Core::StoreRelocated(spool::SpoolMessage message,
                          std::function<void(absl::StatusOr<spool::RecordLocation>)> done) {
  ETRND_CHECK(message.relocated);
  absl::StatusOr<spool::RecordLocation> location = segments_->Append(message);
  if (!location.ok()) {
    done(location.status());
    return;
  }
  const spool::RecordLocation where = *location;
  segment_commits_->AwaitDurable(where, [where, done = std::move(done)](absl::Status status) {
    if (!status.ok()) {
      done(status);
      return;
    }
    done(where);
  });
}

void Core::SegmentsRemoved(const std::vector<spool::SegmentKey>& segments) {
  for (const spool::SegmentKey& segment : segments) completions_->SegmentRemoved(segment);
  for (std::string& path :
       completions_->TakeDeletableLogs([](spool::SegmentKey) { return true; })) {
    reactor_->Unlink(path, [path](int result) {
      if (result == 0) {
        ETRND_LOG_INFO("completion log %s points into no segment left: removed", path);
      } else {
        ETRND_LOG_WARNING("completion log %s: unlink failed (%d)", path, result);
      }
    });
  }
}

void Core::AdoptRecoveredCompletionLog(const spool::RecoveryResult& recovered) {
  // Recovery names its log done-0-<id>: core 0's.
  if (index_ != 0 || !recovered.compacted_log_id.has_value()) return;
  completions_->AdoptSealedLog(*recovered.compacted_log_id, recovered.compacted_log_segments);
}

void Core::SyncSpoolDirectoryThen(std::function<void(bool synced)> then) {
  // open + fsync + close of the directory, each through the ring.
  reactor_->OpenAt(context_.options.spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0,
                   [this, then = std::move(then)](int fd) mutable {
                     if (fd < 0) {
                       then(false);
                       return;
                     }
                     reactor_->Fsync(fd, [this, fd, then = std::move(then)](int result) mutable {
                       reactor_->CloseFile(fd, [](int) {});
                       then(result == 0);
                     });
                   });
}

}  // namespace etrnd::server
