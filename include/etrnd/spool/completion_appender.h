// Appends completion records (a recipient is finished) to this core's
// completion logs (<spool_dir>/done-<core>-<id>.log), group-committed like
// segments. It remembers which segments each sealed log points into, so a
// log can be deleted once all of those segments are gone (its records can no
// longer matter): that keeps completion logs bounded while the server runs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "etrnd/spool/record_log_appender.h"

namespace etrnd::spool {

class CompletionAppender : public RecordLogAppender {
 public:
  static absl::StatusOr<std::unique_ptr<CompletionAppender>> Open(AppenderOptions options);

  absl::StatusOr<RecordLocation> Append(const SpoolCompletion& completion);

  // Paths of sealed completion logs none of whose referenced segments is still
  // present (`segment_exists` says). The caller unlinks them, after making the
  // segments' own unlinks durable (fsync of the directory), else a crash could
  // resurrect a segment without its completions.
  std::vector<std::string> TakeDeletableLogs(absl::FunctionRef<bool(SegmentKey)> segment_exists);
  // The segment is gone (its unlink durable): no log is kept for its sake.
  void SegmentRemoved(SegmentKey segment);
  // A sealed log of this core written by someone else (recovery's compacted
  // log) whose records point into `segments`: removed like the others.
  void AdoptSealedLog(uint64_t id, const std::vector<SegmentKey>& segments);

 private:
  explicit CompletionAppender(AppenderOptions options);

  std::string spool_dir_;
  // Log id -> segments its records point into.
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<SegmentKey>> referenced_;
  absl::flat_hash_map<uint64_t, absl::flat_hash_set<SegmentKey>> sealed_referenced_;
};

}  // namespace etrnd::spool
