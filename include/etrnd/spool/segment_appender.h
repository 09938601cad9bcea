// Appends accepted messages to this core's segment files
// (<spool_dir>/seg-<core>-<id>.log). See RecordLogAppender for the batch
// protocol; a message is durable (250 may be sent) once its batch is.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "etrnd/spool/record_log_appender.h"

namespace etrnd::spool {

class SegmentAppender : public RecordLogAppender {
 public:
  static absl::StatusOr<std::unique_ptr<SegmentAppender>> Open(AppenderOptions options);

  absl::StatusOr<RecordLocation> Append(const SpoolMessage& message);

 private:
  explicit SegmentAppender(AppenderOptions options);
};

}  // namespace etrnd::spool
