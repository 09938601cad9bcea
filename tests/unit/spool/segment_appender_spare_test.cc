// The roll onto a spare file made ahead of need (AppenderOptions::
// roll_blocking = false, as in the server, whose ring creates the spares).
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "etrnd/spool/segment_appender.h"
#include "etrnd/spool/spool_file_header.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace etrnd::spool {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

SpoolMessage MakeMessage(int n, size_t body_bytes = 0) {
  SpoolMessage message;
  message.queue_id = "Q" + std::to_string(n);
  message.arrival_unix_micros = 1000 + n;
  message.mail_from = "sender@example.org";
  message.recipients = {"rcpt" + std::to_string(n) + "@example.com"};
  message.data = "Subject: " + std::to_string(n) + "\r\n\r\n" + std::string(body_bytes, 'x');
  return message;
}

std::unique_ptr<SegmentAppender> OpenAppender(const TempDir& dir, uint64_t file_bytes_max) {
  AppenderOptions options;
  options.spool_dir = dir.path();
  options.core = 3;
  options.first_file_id = 17;
  options.file_bytes_max = file_bytes_max;
  options.roll_blocking = false;
  auto appender = SegmentAppender::Open(options);
  EXPECT_TRUE(appender.ok()) << appender.status();
  return std::move(*appender);
}

// What the server does through its ring; returns the id it prepared.
uint64_t PrepareSpare(RecordLogAppender& appender) {
  std::optional<SpareRequest> request = appender.TakeSpareRequest();
  EXPECT_TRUE(request.has_value());
  if (!request.has_value()) return 0;
  const int fd = ::open(request->path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  EXPECT_GE(fd, 0) << request->path;
  appender.AdoptSpare(request->file_id, fd);
  return request->file_id;
}

void WriteAll(RecordLogAppender& appender, std::vector<uint64_t>* sealed) {
  while (std::optional<SpoolBatch> batch = appender.TakeBatch()) {
    const std::string bytes = batch->bytes + std::string(batch->zero_fill, '\0');
    ASSERT_EQ(::pwrite(batch->fd, bytes.data(), bytes.size(), static_cast<off_t>(batch->offset)),
              static_cast<ssize_t>(bytes.size()));
    appender.BatchDurable(*batch);
    for (uint64_t id : appender.TakeSealedFiles()) sealed->push_back(id);
  }
}

TEST(SegmentAppenderSpareTest, RollUsesTheAdoptedSpare) {
  TempDir dir;
  auto appender = OpenAppender(dir, /*file_bytes_max=*/150);
  EXPECT_EQ(PrepareSpare(*appender), 18u);
  EXPECT_TRUE(appender->spare_ready());
  EXPECT_FALSE(appender->TakeSpareRequest().has_value());  // one spare at a time

  std::vector<RecordLocation> locations;
  for (int i = 0; i < 3; ++i) locations.push_back(*appender->Append(MakeMessage(i)));
  EXPECT_EQ(locations[1].segment_id, 17u);
  EXPECT_EQ(locations[2].segment_id, 18u);
  EXPECT_EQ(locations[2].offset, kFileHeaderBytes);
  EXPECT_FALSE(appender->spare_ready());
  // After the roll the next spare is wanted, with a new id.
  std::optional<SpareRequest> next = appender->TakeSpareRequest();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->file_id, 19u);
  EXPECT_EQ(next->path, SegmentPath(dir.path(), 3, 19));
  EXPECT_FALSE(appender->TakeSpareRequest().has_value());  // in preparation

  std::vector<uint64_t> sealed;
  WriteAll(*appender, &sealed);
  EXPECT_EQ(sealed, (std::vector<uint64_t>{17}));
}

TEST(SegmentAppenderSpareTest, GrowsPastFileBytesMaxUntilTheSpareComes) {
  TempDir dir;
  auto appender = OpenAppender(dir, /*file_bytes_max=*/150);
  std::optional<SpareRequest> request = appender->TakeSpareRequest();
  ASSERT_TRUE(request.has_value());

  std::vector<RecordLocation> locations;
  for (int i = 0; i < 5; ++i) locations.push_back(*appender->Append(MakeMessage(i)));
  for (int i = 1; i < 5; ++i) {
    EXPECT_EQ(locations[i].segment_id, 17u);
    EXPECT_GT(locations[i].offset, locations[i - 1].offset);
  }
  EXPECT_GT(locations[4].offset, 150u);
  // Past file_bytes_max a batch carries no zero fill: the file ends at its
  // last record.
  std::optional<SpoolBatch> batch = appender->TakeBatch();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->zero_fill, 0u);
  const std::string bytes = batch->bytes;
  ASSERT_EQ(::pwrite(batch->fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  appender->BatchDurable(*batch);
  EXPECT_EQ(fs::file_size(SegmentPath(dir.path(), 3, 17)),
            locations[4].offset + locations[4].length);

  const int fd = ::open(request->path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  ASSERT_GE(fd, 0);
  appender->AdoptSpare(request->file_id, fd);
  const RecordLocation rolled = *appender->Append(MakeMessage(5));
  EXPECT_EQ(rolled.segment_id, 18u);
  EXPECT_EQ(rolled.offset, kFileHeaderBytes);
  std::vector<uint64_t> sealed = appender->TakeSealedFiles();
  WriteAll(*appender, &sealed);
  EXPECT_EQ(sealed, (std::vector<uint64_t>{17}));
}

TEST(SegmentAppenderSpareTest, FailedSpareIdIsNeverReusedAndRetriedAfterGrowth) {
  TempDir dir;
  auto appender = OpenAppender(dir, /*file_bytes_max=*/150);
  std::optional<SpareRequest> request = appender->TakeSpareRequest();
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->file_id, 18u);
  appender->SpareFailed(request->file_id, EEXIST);
  // Not on every loop turn: only once the current file has grown more.
  EXPECT_FALSE(appender->TakeSpareRequest().has_value());
  const RecordLocation big = *appender->Append(MakeMessage(1, kSpareRetryGrowthBytes));
  EXPECT_EQ(big.segment_id, 17u);  // no spare: the file takes it anyway
  const RecordLocation after = *appender->Append(MakeMessage(2));
  EXPECT_EQ(after.segment_id, 17u);

  std::optional<SpareRequest> retry = appender->TakeSpareRequest();
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->file_id, 19u);  // 18 may exist: skipped, never reused
  const int fd = ::open(retry->path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  ASSERT_GE(fd, 0);
  appender->AdoptSpare(retry->file_id, fd);
  EXPECT_EQ(appender->Append(MakeMessage(3))->segment_id, 19u);
  EXPECT_EQ(appender->TakeSpareRequest()->file_id, 20u);
}

TEST(SegmentAppenderSpareTest, DropSpareRemovesTheUnusedFile) {
  TempDir dir;
  auto appender = OpenAppender(dir, /*file_bytes_max=*/150);
  ASSERT_EQ(PrepareSpare(*appender), 18u);
  ASSERT_TRUE(fs::exists(SegmentPath(dir.path(), 3, 18)));
  appender->DropSpare();
  EXPECT_FALSE(appender->spare_ready());
  EXPECT_FALSE(fs::exists(SegmentPath(dir.path(), 3, 18)));
  EXPECT_TRUE(fs::exists(SegmentPath(dir.path(), 3, 17)));
}

}  // namespace
}  // namespace etrnd::spool
