#include "etrnd/spool/completion_appender.h"

#include "etrnd/spool/spool_files.h"

namespace etrnd::spool {

CompletionAppender::CompletionAppender(AppenderOptions options)
    : RecordLogAppender(SpoolFileKind::kCompletionLog, options), spool_dir_(options.spool_dir) {}

absl::StatusOr<std::unique_ptr<CompletionAppender>> CompletionAppender::Open(
    AppenderOptions options) {
  std::unique_ptr<CompletionAppender> appender(new CompletionAppender(std::move(options)));
  if (absl::Status status = appender->OpenFirstFile(); !status.ok()) return status;
  return appender;
}

absl::StatusOr<RecordLocation> CompletionAppender::Append(const SpoolCompletion& completion) {
  absl::StatusOr<RecordLocation> location =
      AppendRecord([&completion](std::string* out) { return EncodeCompletion(completion, out); });
  if (location.ok()) {
    referenced_[location->segment_id].insert(SegmentKey{completion.core, completion.segment_id});
  }
  return location;
}

void CompletionAppender::AdoptSealedLog(uint64_t id, const std::vector<SegmentKey>& segments) {
  sealed_referenced_[id].insert(segments.begin(), segments.end());
}

void CompletionAppender::SegmentRemoved(SegmentKey segment) {
  // One set per log file: the files are few (the disk bounds them).
  for (auto& [id, segments] : referenced_) segments.erase(segment);
  for (auto& [id, segments] : sealed_referenced_) segments.erase(segment);
}

std::vector<std::string> CompletionAppender::TakeDeletableLogs(
    absl::FunctionRef<bool(SegmentKey)> segment_exists) {
  for (uint64_t id : TakeSealedFiles()) {
    sealed_referenced_[id] = std::move(referenced_[id]);
    referenced_.erase(id);
  }
  std::vector<std::string> deletable;
  for (auto it = sealed_referenced_.begin(); it != sealed_referenced_.end();) {
    absl::flat_hash_set<SegmentKey>& segments = it->second;
    absl::erase_if(segments, [&](const SegmentKey& key) { return !segment_exists(key); });
    if (segments.empty()) {
      deletable.push_back(CompletionLogPath(spool_dir_, core(), it->first));
      sealed_referenced_.erase(it++);
    } else {
      ++it;
    }
  }
  return deletable;
}

}  // namespace etrnd::spool
