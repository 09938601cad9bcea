#include "etrnd/spool/segment_appender.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "etrnd/spool/completion_appender.h"
#include "etrnd/spool/spool_file_header.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace etrnd::spool {
namespace {

using testing::TempDir;

SpoolMessage MakeMessage(int n) {
  SpoolMessage message;
  message.queue_id = "Q" + std::to_string(n);
  message.arrival_unix_micros = 1000 + n;
  message.mail_from = "sender@example.org";
  message.recipients = {"rcpt" + std::to_string(n) + "@example.com"};
  message.data = "Subject: " + std::to_string(n) + "\r\n\r\nbody\r\n";
  return message;
}

// What the reactor does through io_uring: one write (the records, then the
// zero fill), one fdatasync.
void WriteBatch(const SpoolBatch& batch) {
  const std::string bytes = batch.bytes + std::string(batch.zero_fill, '\0');
  ASSERT_EQ(::pwrite(batch.fd, bytes.data(), bytes.size(), static_cast<off_t>(batch.offset)),
            static_cast<ssize_t>(bytes.size()));
  ASSERT_EQ(::fdatasync(batch.fd), 0);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

SpoolMessage ReadAt(const std::string& dir, const RecordLocation& location) {
  const std::string file = ReadFile(SegmentPath(dir, location.core, location.segment_id));
  SpoolMessage message;
  size_t consumed = 0;
  EXPECT_EQ(DecodeMessage(std::string_view(file).substr(location.offset), &consumed, &message),
            DecodeStatus::kOk);
  EXPECT_EQ(consumed, location.length);
  return message;
}

AppenderOptions Options(const TempDir& dir, uint64_t file_bytes_max = kFileBytesMaxDefault) {
  AppenderOptions options;
  options.spool_dir = dir.path();
  options.core = 3;
  options.first_file_id = 17;
  options.file_bytes_max = file_bytes_max;
  return options;
}

TEST(SegmentAppenderTest, BatchHoldsEverythingAppendedSinceLastTake) {
  TempDir dir;
  auto appender = SegmentAppender::Open(Options(dir));
  ASSERT_TRUE(appender.ok()) << appender.status();
  EXPECT_EQ((*appender)->current_path(), dir.path() + "/seg-3-0000000017.log");
  EXPECT_FALSE((*appender)->TakeBatch().has_value());

  auto first = (*appender)->Append(MakeMessage(1));
  auto second = (*appender)->Append(MakeMessage(2));
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->core, 3u);
  EXPECT_EQ(first->segment_id, 17u);
  EXPECT_EQ(first->offset, kFileHeaderBytes);  // the file header comes first
  EXPECT_EQ(second->offset, first->offset + first->length);

  std::optional<SpoolBatch> batch = (*appender)->TakeBatch();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->offset, 0u);
  EXPECT_EQ(batch->bytes.size(), kFileHeaderBytes + first->length + second->length);
  EXPECT_EQ(DecodeFileHeader(batch->bytes).status, FileHeaderStatus::kCurrent);
  ASSERT_EQ(batch->records.size(), 2u);
  EXPECT_EQ(batch->records[1], *second);
  EXPECT_EQ((*appender)->pending_bytes(), 0u);
  WriteBatch(*batch);
  (*appender)->BatchDurable(*batch);

  EXPECT_EQ(ReadAt(dir.path(), *first), MakeMessage(1));
  EXPECT_EQ(ReadAt(dir.path(), *second), MakeMessage(2));
}

TEST(SegmentAppenderTest, OneBatchInFlightAtATime) {
  TempDir dir;
  auto appender = *SegmentAppender::Open(Options(dir));
  ASSERT_TRUE(appender->Append(MakeMessage(1)).ok());
  std::optional<SpoolBatch> first = appender->TakeBatch();
  ASSERT_TRUE(first.has_value());
  auto later = appender->Append(MakeMessage(2));
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->offset, first->bytes.size());
  EXPECT_FALSE(appender->TakeBatch().has_value());  // first still in flight
  WriteBatch(*first);
  appender->BatchDurable(*first);
  std::optional<SpoolBatch> second = appender->TakeBatch();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->offset, first->bytes.size());
  EXPECT_GT(second->sequence, first->sequence);
  WriteBatch(*second);
  appender->BatchDurable(*second);
  EXPECT_EQ(ReadAt(dir.path(), *later), MakeMessage(2));
}

TEST(SegmentAppenderTest, FileGrowsInChunksOfZerosAheadOfTheRecords) {
  TempDir dir;
  auto appender = *SegmentAppender::Open(Options(dir));
  const std::string path = SegmentPath(dir.path(), 3, 17);
  const RecordLocation one = *appender->Append(MakeMessage(1));
  std::optional<SpoolBatch> first = appender->TakeBatch();
  ASSERT_TRUE(first.has_value());
  // The first batch carries the zeros up to the end of the first chunk.
  EXPECT_EQ(first->offset + first->bytes.size() + first->zero_fill, kZeroFillChunkBytes);
  WriteBatch(*first);
  appender->BatchDurable(*first);
  EXPECT_EQ(std::filesystem::file_size(path), kZeroFillChunkBytes);

  // Later batches inside the chunk overwrite zeros: the size stays.
  const RecordLocation two = *appender->Append(MakeMessage(2));
  std::optional<SpoolBatch> second = appender->TakeBatch();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->zero_fill, 0u);
  WriteBatch(*second);
  appender->BatchDurable(*second);
  EXPECT_EQ(std::filesystem::file_size(path), kZeroFillChunkBytes);
  EXPECT_EQ(ReadAt(dir.path(), one), MakeMessage(1));
  EXPECT_EQ(ReadAt(dir.path(), two), MakeMessage(2));

  // A clean stop cuts the zeros behind the last durable record.
  appender->TrimZeroFill();
  EXPECT_EQ(std::filesystem::file_size(path), two.offset + two.length);
  EXPECT_EQ(ReadAt(dir.path(), two), MakeMessage(2));
}

TEST(SegmentAppenderTest, ZeroFillNeverPassesFileBytesMax) {
  TempDir dir;
  auto appender = *SegmentAppender::Open(Options(dir, /*file_bytes_max=*/1000));
  ASSERT_TRUE(appender->Append(MakeMessage(1)).ok());
  std::optional<SpoolBatch> batch = appender->TakeBatch();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->offset + batch->bytes.size() + batch->zero_fill, 1000u);
  WriteBatch(*batch);
  appender->BatchDurable(*batch);

  // A file already past file_bytes_max gets no zeros at all.
  TempDir small_dir;
  auto small = *SegmentAppender::Open(Options(small_dir, /*file_bytes_max=*/50));
  ASSERT_TRUE(small->Append(MakeMessage(1)).ok());
  std::optional<SpoolBatch> over = small->TakeBatch();
  ASSERT_TRUE(over.has_value());
  EXPECT_EQ(over->zero_fill, 0u);
}

TEST(SegmentAppenderTest, FailedBatchCutsTheZeroFillAndTheNextBatchRefills) {
  TempDir dir;
  auto appender = *SegmentAppender::Open(Options(dir));
  const std::string path = SegmentPath(dir.path(), 3, 17);
  ASSERT_TRUE(appender->Append(MakeMessage(1)).ok());
  std::optional<SpoolBatch> failing = appender->TakeBatch();
  ASSERT_GT(failing->zero_fill, 0u);
  WriteBatch(*failing);  // written, but its fdatasync failed
  appender->BatchFailed(*failing, EIO);
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
  ASSERT_TRUE(appender->Append(MakeMessage(2)).ok());
  std::optional<SpoolBatch> retry = appender->TakeBatch();
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->offset, 0u);
  EXPECT_EQ(retry->bytes.size() + retry->zero_fill, kZeroFillChunkBytes);
}

TEST(SegmentAppenderTest, RollsToNextSegmentAndSealsAfterBatchesFinish) {
  TempDir dir;
  auto appender = *SegmentAppender::Open(Options(dir, /*file_bytes_max=*/150));
  std::vector<RecordLocation> locations;
  for (int i = 0; i < 6; ++i) locations.push_back(*appender->Append(MakeMessage(i)));
  // Each message is ~100 bytes: a segment takes two before it is over 150.
  EXPECT_EQ(locations[0].segment_id, 17u);
  EXPECT_EQ(locations[1].segment_id, 17u);
  EXPECT_EQ(locations[2].segment_id, 18u);
  EXPECT_EQ(locations[2].offset, kFileHeaderBytes);
  EXPECT_EQ(locations[5].segment_id, 19u);
  EXPECT_TRUE(std::filesystem::exists(SegmentPath(dir.path(), 3, 19)));
  EXPECT_TRUE(appender->TakeSealedFiles().empty());  // 17 and 18 still pending

  std::vector<uint64_t> sealed;
  while (std::optional<SpoolBatch> batch = appender->TakeBatch()) {
    WriteBatch(*batch);
    appender->BatchDurable(*batch);
    for (uint64_t id : appender->TakeSealedFiles()) sealed.push_back(id);
  }
  EXPECT_EQ(sealed, (std::vector<uint64_t>{17, 18}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(ReadAt(dir.path(), locations[i]), MakeMessage(i));
  EXPECT_EQ(appender->current_file_id(), 19u);
}

TEST(SegmentAppenderTest, FailedBatchIsCutBackAndLaterAppendsDropped) {
  TempDir dir;
  auto appender = *SegmentAppender::Open(Options(dir));
  const RecordLocation durable = *appender->Append(MakeMessage(1));
  std::optional<SpoolBatch> first = appender->TakeBatch();
  WriteBatch(*first);
  appender->BatchDurable(*first);

  ASSERT_TRUE(appender->Append(MakeMessage(2)).ok());
  std::optional<SpoolBatch> failing = appender->TakeBatch();
  const RecordLocation queued_meanwhile = *appender->Append(MakeMessage(3));
  // A partial write happened before the disk filled up.
  ASSERT_EQ(::pwrite(failing->fd, failing->bytes.data(), 10, static_cast<off_t>(failing->offset)),
            10);
  const std::vector<RecordLocation> dropped = appender->BatchFailed(*failing, ENOSPC);
  EXPECT_EQ(dropped, (std::vector<RecordLocation>{queued_meanwhile}));
  EXPECT_FALSE(appender->TakeBatch().has_value());
  EXPECT_EQ(appender->pending_bytes(), 0u);

  const std::string path = SegmentPath(dir.path(), 3, 17);
  EXPECT_EQ(std::filesystem::file_size(path), durable.offset + durable.length);
  EXPECT_EQ(ReadAt(dir.path(), durable), MakeMessage(1));

  // The file continues where the durable data ends.
  const RecordLocation retry = *appender->Append(MakeMessage(4));
  EXPECT_EQ(retry.segment_id, 17u);
  EXPECT_EQ(retry.offset, durable.offset + durable.length);
  std::optional<SpoolBatch> batch = appender->TakeBatch();
  WriteBatch(*batch);
  appender->BatchDurable(*batch);
  EXPECT_EQ(ReadAt(dir.path(), retry), MakeMessage(4));
}

TEST(SegmentAppenderTest, FailureAfterRollDropsTheNewFilesPendingToo) {
  TempDir dir;
  auto appender = *SegmentAppender::Open(Options(dir, 150));
  appender->Append(MakeMessage(0)).IgnoreError();
  appender->Append(MakeMessage(1)).IgnoreError();
  std::optional<SpoolBatch> failing = appender->TakeBatch();
  const RecordLocation rolled = *appender->Append(MakeMessage(2));
  EXPECT_EQ(rolled.segment_id, 18u);
  EXPECT_EQ(appender->BatchFailed(*failing, EIO).size(), 1u);
  EXPECT_EQ(appender->TakeSealedFiles(), std::vector<uint64_t>{17});
  const RecordLocation next = *appender->Append(MakeMessage(3));
  EXPECT_EQ(next.segment_id, 18u);
  EXPECT_EQ(next.offset, kFileHeaderBytes);
}

TEST(SegmentAppenderTest, BackPressureOverPendingBytesMax) {
  TempDir dir;
  AppenderOptions options = Options(dir);
  options.pending_bytes_max = 250;
  auto appender = *SegmentAppender::Open(options);
  int accepted = 0;
  absl::Status status;
  while ((status = appender->Append(MakeMessage(accepted)).status()).ok()) ++accepted;
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_GE(accepted, 2);
  EXPECT_LE(accepted, 4);
}

TEST(SegmentAppenderTest, NeverReusesAnExistingName) {
  TempDir dir;
  {
    auto first = SegmentAppender::Open(Options(dir));
    ASSERT_TRUE(first.ok());
  }
  auto second = SegmentAppender::Open(Options(dir));
  EXPECT_FALSE(second.ok());
}

TEST(SegmentAppenderTest, RejectsMissingDirectory) {
  AppenderOptions options;
  options.spool_dir = "/nonexistent/etrnd/spool";
  EXPECT_FALSE(SegmentAppender::Open(options).ok());
}

TEST(CompletionAppenderTest, WritesDoneLogAndReportsLogsOfDeletedSegments) {
  TempDir dir;
  AppenderOptions options = Options(dir, /*file_bytes_max=*/100);
  auto appender = *CompletionAppender::Open(options);
  EXPECT_EQ(appender->current_path(), dir.path() + "/done-3-0000000017.log");
  // Completion records are 45 bytes after a 16-byte file header: two per log
  // before it is over 100.
  appender->Append(SpoolCompletion{1, 5, 0, 0, RecipientOutcome::kDelivered}).IgnoreError();
  appender->Append(SpoolCompletion{1, 6, 0, 0, RecipientOutcome::kDelivered}).IgnoreError();
  appender->Append(SpoolCompletion{1, 7, 0, 0, RecipientOutcome::kDropped}).IgnoreError();
  while (std::optional<SpoolBatch> batch = appender->TakeBatch()) {
    WriteBatch(*batch);
    appender->BatchDurable(*batch);
  }
  SpoolCompletion decoded;
  size_t consumed = 0;
  const std::string first_log = ReadFile(CompletionLogPath(dir.path(), 3, 17));
  ASSERT_EQ(
      DecodeCompletion(std::string_view(first_log).substr(kFileHeaderBytes), &consumed, &decoded),
      DecodeStatus::kOk);
  EXPECT_EQ(decoded.segment_id, 5u);

  absl::flat_hash_set<uint64_t> existing = {5, 6, 7};
  auto exists = [&](SegmentKey key) { return existing.contains(key.segment_id); };
  EXPECT_TRUE(appender->TakeDeletableLogs(exists).empty());
  existing.erase(5);
  EXPECT_TRUE(appender->TakeDeletableLogs(exists).empty());  // still points into 6
  existing.erase(6);
  existing.erase(7);  // 7 is referenced by the current log only: never deletable
  EXPECT_EQ(appender->TakeDeletableLogs(exists),
            std::vector<std::string>{CompletionLogPath(dir.path(), 3, 17)});
  EXPECT_TRUE(appender->TakeDeletableLogs(exists).empty());
}

// The server's way (Core::SegmentsRemoved): each core is told of every
// removed segment once, and asks with "everything else exists".
TEST(CompletionAppenderTest, RemovedSegmentsReleaseTheirLogs) {
  TempDir dir;
  auto appender = *CompletionAppender::Open(Options(dir, /*file_bytes_max=*/100));
  appender->Append(SpoolCompletion{1, 5, 0, 0, RecipientOutcome::kMoved}).IgnoreError();
  appender->Append(SpoolCompletion{0, 5, 0, 0, RecipientOutcome::kDelivered}).IgnoreError();
  appender->Append(SpoolCompletion{1, 9, 0, 0, RecipientOutcome::kDelivered}).IgnoreError();
  while (std::optional<SpoolBatch> batch = appender->TakeBatch()) {
    WriteBatch(*batch);
    appender->BatchDurable(*batch);
  }
  auto all_exist = [](SegmentKey) { return true; };
  EXPECT_TRUE(appender->TakeDeletableLogs(all_exist).empty());
  appender->SegmentRemoved(SegmentKey{1, 5});
  EXPECT_TRUE(appender->TakeDeletableLogs(all_exist).empty());  // core 0's segment 5 too
  appender->SegmentRemoved(SegmentKey{0, 5});
  EXPECT_EQ(appender->TakeDeletableLogs(all_exist),
            std::vector<std::string>{CompletionLogPath(dir.path(), 3, 17)});
  appender->SegmentRemoved(SegmentKey{1, 9});  // the current log is never deletable
  EXPECT_TRUE(appender->TakeDeletableLogs(all_exist).empty());
}

}  // namespace
}  // namespace etrnd::spool
