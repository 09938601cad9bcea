// Real spool records for the queue manager's unit tests: written by the
// real SegmentAppender into core 0's segments, as a stored message is.
#pragma once

#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "etrnd/spool/segment_appender.h"
#include "etrnd/spool/spool_record.h"
#include "gtest/gtest.h"

namespace etrnd::qmgr::testing {

struct WrittenMessage {
  spool::RecordLocation location;
  spool::SpoolMessage envelope;  // without its body
};

// One message per entry of `recipients`.
inline std::vector<WrittenMessage> WriteMessages(
    const std::string& dir, const std::vector<std::vector<std::string>>& recipients) {
  std::vector<WrittenMessage> written;
  spool::AppenderOptions options;
  options.spool_dir = dir;
  options.core = 0;
  auto appender = spool::SegmentAppender::Open(options);
  EXPECT_TRUE(appender.ok()) << appender.status();
  for (size_t i = 0; i < recipients.size(); ++i) {
    spool::SpoolMessage message;
    message.queue_id = absl::StrCat("Q", i);
    message.arrival_unix_micros = absl::ToUnixMicros(absl::Now());
    message.mail_from = "sender@example.org";
    message.recipients = recipients[i];
    message.data = absl::StrCat("Subject: ", i, "\r\n\r\nbody\r\n");
    auto location = (*appender)->Append(message);
    EXPECT_TRUE(location.ok());
    auto batch = (*appender)->TakeBatch();
    EXPECT_TRUE(batch.has_value());
    EXPECT_EQ(::pwrite(batch->fd, batch->bytes.data(), batch->bytes.size(),
                       static_cast<off_t>(batch->offset)),
              static_cast<ssize_t>(batch->bytes.size()));
    (*appender)->BatchDurable(*batch);
    message.data.clear();
    written.push_back(WrittenMessage{*location, std::move(message)});
  }
  return written;
}

}  // namespace etrnd::qmgr::testing
