#include "etrnd/spool/segment_appender.h"

namespace etrnd::spool {

SegmentAppender::SegmentAppender(AppenderOptions options)
    : RecordLogAppender(SpoolFileKind::kSegment, std::move(options)) {}

absl::StatusOr<std::unique_ptr<SegmentAppender>> SegmentAppender::Open(AppenderOptions options) {
  std::unique_ptr<SegmentAppender> appender(new SegmentAppender(std::move(options)));
  if (absl::Status status = appender->OpenFirstFile(); !status.ok()) return status;
  return appender;
}

absl::StatusOr<RecordLocation> SegmentAppender::Append(const SpoolMessage& message) {
  return AppendRecord([&message](std::string* out) { return EncodeMessage(message, out); });
}

}  // namespace etrnd::spool
