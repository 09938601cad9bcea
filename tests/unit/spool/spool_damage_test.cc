// Damage on disk loses at most the damaged records (SPEC 8): recovery resyncs
// on the next valid record, copies the damaged bytes to damaged/, cuts only a
// torn tail, and moves files of another format version aside.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "etrnd/control/control_request.h"
#include "etrnd/spool/completion_appender.h"
#include "etrnd/spool/crc32c.h"
#include "etrnd/spool/damaged_files.h"
#include "etrnd/spool/segment_appender.h"
#include "etrnd/spool/spool_file_header.h"
#include "etrnd/spool/spool_recovery.h"
#include "gtest/gtest.h"
#include "spool_test_files.h"
#include "temp_dir.h"

namespace etrnd::spool {
namespace {

using testing::Flush;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;
namespace fs = std::filesystem;

constexpr size_t kLengthFieldOffset = 12;  // in a record header
constexpr size_t kPageBytes = 4096;

SpoolMessage MakeMessage(int n, size_t body_bytes = 40) {
  SpoolMessage message;
  message.queue_id = control::FormatQueueId(0x1000 + n);
  message.arrival_unix_micros = 7000 + n;
  message.mail_from = "from" + std::to_string(n) + "@example.org";
  message.recipients = {"r@d" + std::to_string(n) + ".example"};
  message.data = "Subject: " + std::to_string(n) + "\r\n\r\n" + std::string(body_bytes, 'b');
  return message;
}

AppenderOptions Options(const TempDir& dir) {
  AppenderOptions options;
  options.spool_dir = dir.path();
  return options;
}

std::vector<RecordLocation> SpoolMessages(const TempDir& dir, int count, size_t body_bytes = 40) {
  auto appender = *SegmentAppender::Open(Options(dir));
  std::vector<RecordLocation> locations;
  for (int i = 0; i < count; ++i) {
    locations.push_back(*appender->Append(MakeMessage(i, body_bytes)));
  }
  Flush(*appender);
  return locations;
}

std::vector<uint64_t> QueueIds(const RecoveryResult& result) {
  std::vector<uint64_t> ids;
  for (const RecoveredMessage& message : result.messages) ids.push_back(message.queue_id);
  return ids;
}

std::vector<uint64_t> IdsExcept(int count, std::vector<int> lost) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < count; ++i) {
    if (std::find(lost.begin(), lost.end(), i) == lost.end()) ids.push_back(0x1000 + i);
  }
  return ids;
}

std::vector<std::string> DamagedFiles(const TempDir& dir) {
  std::vector<std::string> names;
  if (!fs::exists(DamagedDir(dir.path()))) return names;
  for (const auto& entry : fs::directory_iterator(DamagedDir(dir.path()))) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string RangeName(std::string_view file, uint64_t offset, uint64_t length) {
  return std::string(file) + ".offset-" + std::to_string(offset) + ".length-" +
         std::to_string(length);
}

constexpr std::string_view kSegment0 = "seg-0-0000000000.log";

TEST(SpoolDamageTest, FlippedLengthBitInRecord2Of6LosesOnlyThatRecord) {
  TempDir dir;
  const std::vector<RecordLocation> locations = SpoolMessages(dir, 6);
  const std::string path = SegmentPath(dir.path(), 0, 0);
  std::string bytes = ReadFile(path);
  const std::string original_record2 = bytes.substr(locations[1].offset, locations[1].length);
  bytes[locations[1].offset + kLengthFieldOffset + 1] ^= 0x04;
  WriteFile(path, bytes);

  for (int round = 0; round < 2; ++round) {  // the same answer at every restart
    absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(QueueIds(*result), IdsExcept(6, {1})) << round;
    EXPECT_EQ(result->messages[1].location, locations[2]);
    EXPECT_EQ(result->stats.damaged_ranges, 1u);
    EXPECT_EQ(result->stats.damaged_bytes, locations[1].length);
    EXPECT_EQ(result->stats.torn_tails_dropped, 0u);
    EXPECT_EQ(fs::file_size(path), bytes.size()) << "a valid record was cut away";
    EXPECT_EQ(ReadMessage(dir.path(), locations[5])->queue_id, control::FormatQueueId(0x1005));
  }
  const std::string saved = RangeName(kSegment0, locations[1].offset, locations[1].length);
  ASSERT_EQ(DamagedFiles(dir), std::vector<std::string>{saved});
  std::string expected = original_record2;
  expected[kLengthFieldOffset + 1] ^= 0x04;
  EXPECT_EQ(ReadFile(DamagedDir(dir.path()) + "/" + saved), expected);
}

TEST(SpoolDamageTest, FourCorruptBodyBytesLoseOnlyThatRecord) {
  TempDir dir;
  const std::vector<RecordLocation> locations = SpoolMessages(dir, 6);
  const std::string path = SegmentPath(dir.path(), 0, 0);
  std::string bytes = ReadFile(path);
  const uint64_t body = locations[2].offset + locations[2].length - 10;
  for (int i = 0; i < 4; ++i) bytes[body + i] = static_cast<char>(~bytes[body + i]);
  WriteFile(path, bytes);

  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(QueueIds(*result), IdsExcept(6, {2}));
  EXPECT_EQ(DamagedFiles(dir), std::vector<std::string>{
                                   RangeName(kSegment0, locations[2].offset, locations[2].length)});
  EXPECT_EQ(fs::file_size(path), bytes.size());
  // Not pinned: the damage is kept aside, the segment is sealed as usual.
  EXPECT_TRUE(result->pinned_segments.empty());
  EXPECT_EQ(result->segments, (std::vector<SegmentKey>{SegmentKey{0, 0}}));
}

TEST(SpoolDamageTest, ZeroedPageInTheMiddleLosesOnlyTheRecordsItTouches) {
  TempDir dir;
  const std::vector<RecordLocation> locations = SpoolMessages(dir, 60, /*body_bytes=*/200);
  const std::string path = SegmentPath(dir.path(), 0, 0);
  std::string bytes = ReadFile(path);
  ASSERT_GT(bytes.size(), 3 * kPageBytes);
  std::fill(bytes.begin() + kPageBytes, bytes.begin() + 2 * kPageBytes, '\0');
  WriteFile(path, bytes);

  std::vector<int> lost;
  for (int i = 0; i < 60; ++i) {
    const uint64_t begin = locations[i].offset, end = begin + locations[i].length;
    if (end > kPageBytes && begin < 2 * kPageBytes) lost.push_back(i);
  }
  ASSERT_GE(lost.size(), 2u);
  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(QueueIds(*result), IdsExcept(60, lost));
  EXPECT_EQ(result->stats.damaged_ranges, 1u);
  const uint64_t damage_begin = locations[lost.front()].offset;
  const uint64_t damage_end = locations[lost.back()].offset + locations[lost.back()].length;
  EXPECT_EQ(DamagedFiles(dir), std::vector<std::string>{
                                   RangeName(kSegment0, damage_begin, damage_end - damage_begin)});
}

TEST(SpoolDamageTest, TruncatedLastRecordIsCutAndKeptAside) {
  TempDir dir;
  const std::vector<RecordLocation> locations = SpoolMessages(dir, 6);
  const std::string path = SegmentPath(dir.path(), 0, 0);
  const std::string bytes = ReadFile(path);
  const uint64_t cut = locations[5].offset + locations[5].length / 2;
  WriteFile(path, std::string_view(bytes).substr(0, cut));

  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(QueueIds(*result), IdsExcept(6, {5}));
  EXPECT_EQ(result->stats.torn_tails_dropped, 1u);
  EXPECT_EQ(fs::file_size(path), locations[5].offset);
  const std::string saved = RangeName(kSegment0, locations[5].offset, cut - locations[5].offset);
  ASSERT_EQ(DamagedFiles(dir), std::vector<std::string>{saved});
  EXPECT_EQ(ReadFile(DamagedDir(dir.path()) + "/" + saved),
            bytes.substr(locations[5].offset, cut - locations[5].offset));
}

TEST(SpoolDamageTest, GarbageAppendedIsATornTail) {
  TempDir dir;
  const std::vector<RecordLocation> locations = SpoolMessages(dir, 6);
  const std::string path = SegmentPath(dir.path(), 0, 0);
  const std::string bytes = ReadFile(path);
  std::string garbage;
  for (int i = 0; i < 300; ++i) garbage.push_back(static_cast<char>(i * 37 + 11));
  WriteFile(path, bytes + garbage);

  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(QueueIds(*result), IdsExcept(6, {}));
  EXPECT_EQ(result->stats.torn_tails_dropped, 1u);
  EXPECT_EQ(result->stats.corrupt_files, 0u);
  EXPECT_TRUE(result->pinned_segments.empty());
  EXPECT_EQ(fs::file_size(path), bytes.size());
  EXPECT_EQ(DamagedFiles(dir),
            std::vector<std::string>{RangeName(kSegment0, bytes.size(), garbage.size())});
}

TEST(SpoolDamageTest, DamagedFileHeaderKeepsTheRecords) {
  TempDir dir;
  SpoolMessages(dir, 3);
  const std::string path = SegmentPath(dir.path(), 0, 0);
  std::string bytes = ReadFile(path);
  bytes[5] ^= 0x10;  // the version field: its CRC no longer checks out
  WriteFile(path, bytes);

  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(QueueIds(*result), IdsExcept(3, {}));
  EXPECT_EQ(DamagedFiles(dir), std::vector<std::string>{RangeName(kSegment0, 0, kFileHeaderBytes)});
}

TEST(SpoolDamageTest, UnknownVersionIsMovedAsideUntouched) {
  TempDir dir;
  SpoolMessages(dir, 2);
  const std::string path = SegmentPath(dir.path(), 0, 0);
  std::string bytes = ReadFile(path);
  bytes[4] = 99;  // format version 99, with a valid header CRC
  const uint32_t crc = Crc32c(std::string_view(bytes).substr(0, 12));
  for (int i = 0; i < 4; ++i) bytes[12 + i] = static_cast<char>(crc >> (8 * i));
  WriteFile(path, bytes);

  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->messages.empty());
  EXPECT_TRUE(result->segments.empty());
  EXPECT_EQ(result->stats.files_moved_aside, 1u);
  EXPECT_EQ(result->next_segment_id, 1u);  // the name is never reused
  EXPECT_FALSE(fs::exists(path));
  ASSERT_EQ(DamagedFiles(dir), std::vector<std::string>{std::string(kSegment0)});
  EXPECT_EQ(ReadFile(DamagedDir(dir.path()) + "/" + std::string(kSegment0)), bytes);
}

TEST(SpoolDamageTest, PreviousFormatFileIsMovedAsideUntouched) {
  TempDir dir;
  // A version 1 record: magic, crc, version 1, type 1, ... (no file header).
  std::string v1 = {'E', 'T', 'T', 'R', 1, 2, 3, 4, 1, 1, 0, 0, 4, 0, 0, 0, 'x', 'y', 'z', 'w'};
  WriteFile(SegmentPath(dir.path(), 0, 0), v1);
  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stats.files_moved_aside, 1u);
  EXPECT_EQ(ReadFile(DamagedDir(dir.path()) + "/" + std::string(kSegment0)), v1);
}

TEST(SpoolDamageTest, EntirelyGarbageSegmentAndDirectoryNamedLikeOneDoNotStopRecovery) {
  TempDir dir;
  SpoolMessages(dir, 2);
  std::string garbage;
  for (int i = 0; i < 10000; ++i) garbage.push_back(static_cast<char>((i * 131) ^ (i >> 3)));
  WriteFile(SegmentPath(dir.path(), 0, 1), garbage);
  fs::create_directory(SegmentPath(dir.path(), 0, 2));
  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(QueueIds(*result), IdsExcept(2, {}));
  EXPECT_EQ(result->next_segment_id, 3u);
  EXPECT_EQ(ReadFile(DamagedDir(dir.path()) + "/" + RangeName("seg-0-0000000001.log", 0, 10000)),
            garbage);
}

TEST(SpoolDamageTest, DamagedCompletionRecordLosesOnlyThatCompletion) {
  TempDir dir;
  const std::vector<RecordLocation> messages = SpoolMessages(dir, 3);
  std::vector<RecordLocation> completions;
  {
    auto appender = *CompletionAppender::Open(Options(dir));
    for (const RecordLocation& message : messages) {
      completions.push_back(*appender->Append(SpoolCompletion{
          message.core, message.segment_id, message.offset, 0, RecipientOutcome::kDelivered}));
    }
    Flush(*appender);
  }
  const std::string path = CompletionLogPath(dir.path(), 0, 0);
  std::string bytes = ReadFile(path);
  bytes[completions[1].offset + kLengthFieldOffset] ^= 0x01;
  WriteFile(path, bytes);

  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok()) << result.status();
  // The first and third completions still count: only Q1 is queued again.
  EXPECT_EQ(QueueIds(*result), IdsExcept(3, {0, 2}));
  EXPECT_EQ(result->stats.completions_applied, 2u);
  EXPECT_EQ(DamagedFiles(dir),
            std::vector<std::string>{
                RangeName("done-0-0000000000.log", completions[1].offset, completions[1].length)});
}

}  // namespace
}  // namespace etrnd::spool
