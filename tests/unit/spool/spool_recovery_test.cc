#include "etrnd/spool/spool_recovery.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "etrnd/control/control_request.h"
#include "etrnd/spool/completion_appender.h"
#include "etrnd/spool/record_file_scanner.h"
#include "etrnd/spool/segment_appender.h"
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

SpoolMessage MakeMessage(int n, int recipients = 1) {
  SpoolMessage message;
  message.queue_id = control::FormatQueueId(0x1000 + n);
  message.arrival_unix_micros = 5000 + n;
  message.mail_from = "from" + std::to_string(n) + "@example.org";
  for (int i = 0; i < recipients; ++i) {
    message.recipients.push_back("r" + std::to_string(i) + "@d" + std::to_string(n) + ".example");
  }
  message.data = "Subject: " + std::to_string(n) + "\r\n\r\nbody\r\n";
  return message;
}

AppenderOptions Options(const TempDir& dir, uint32_t core = 0, uint64_t first_id = 0) {
  AppenderOptions options;
  options.spool_dir = dir.path();
  options.core = core;
  options.first_file_id = first_id;
  return options;
}

// Spools `count` messages on core 0, segment 0; returns their locations.
std::vector<RecordLocation> SpoolMessages(const TempDir& dir, int count, int recipients = 1) {
  auto appender = *SegmentAppender::Open(Options(dir));
  std::vector<RecordLocation> locations;
  for (int i = 0; i < count; ++i)
    locations.push_back(*appender->Append(MakeMessage(i, recipients)));
  Flush(*appender);
  return locations;
}

uint64_t QueueIdOf(int n) { return 0x1000 + n; }

std::vector<bool> Finished(const RecoveryResult& result, const RecoveredMessage& message) {
  std::vector<bool> finished;
  for (uint32_t i = 0; i < message.recipient_count; ++i) {
    finished.push_back(result.recipient(message, i).finished);
  }
  return finished;
}

std::vector<std::string> Domains(const RecoveryResult& result, const RecoveredMessage& message) {
  std::vector<std::string> domains;
  for (uint32_t i = 0; i < message.recipient_count; ++i) {
    domains.push_back(result.domains[result.recipient(message, i).domain]);
  }
  return domains;
}

SpoolCompletion CompletionOf(const RecordLocation& location, uint32_t recipient) {
  return SpoolCompletion{location.core, location.segment_id, location.offset, recipient,
                         RecipientOutcome::kDelivered};
}

TEST(SpoolRecoveryTest, CreatesMissingDirectory) {
  TempDir dir;
  const std::string spool = dir.path() + "/spool";
  absl::StatusOr<RecoveryResult> result = RecoverSpool(spool);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(fs::is_directory(spool));
  EXPECT_TRUE(result->messages.empty());
  EXPECT_EQ(result->next_segment_id, 0u);
}

TEST(SpoolRecoveryTest, RecoversEnvelopesAndReadsBodiesOnDemand) {
  TempDir dir;
  const std::vector<RecordLocation> locations = SpoolMessages(dir, 3, /*recipients=*/2);
  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->messages.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const RecoveredMessage& message = result->messages[i];
    const SpoolMessage expected = MakeMessage(i, 2);
    EXPECT_EQ(message.location, locations[i]);
    EXPECT_EQ(message.queue_id, QueueIdOf(i));
    EXPECT_FALSE(message.null_sender);
    EXPECT_EQ(message.arrival_unix_micros, expected.arrival_unix_micros);
    const std::string domain = "d" + std::to_string(i) + ".example";
    EXPECT_EQ(Domains(*result, message), (std::vector<std::string>{domain, domain}));
    EXPECT_EQ(message.live_recipients, 2u);
    absl::StatusOr<SpoolMessage> body = ReadMessage(dir.path(), message.location);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(*body, expected);
  }
  EXPECT_EQ(result->stats.messages, 3u);
  EXPECT_EQ(result->stats.recipients, 6u);
  EXPECT_EQ(result->stats.torn_tails_dropped, 0u);
  EXPECT_EQ(result->segments, (std::vector<SegmentKey>{SegmentKey{0, 0}}));
  EXPECT_EQ(result->next_segment_id, 1u);
}

TEST(SpoolRecoveryTest, ReadMessageRejectsAWrongLocation) {
  TempDir dir;
  std::vector<RecordLocation> locations = SpoolMessages(dir, 2);
  RecordLocation wrong = locations[1];
  wrong.offset += 1;
  EXPECT_EQ(ReadMessage(dir.path(), wrong).status().code(), absl::StatusCode::kDataLoss);
  wrong = locations[1];
  wrong.length += 100;  // past the end of the file
  EXPECT_EQ(ReadMessage(dir.path(), wrong).status().code(), absl::StatusCode::kDataLoss);
  wrong.segment_id = 99;
  EXPECT_EQ(ReadMessage(dir.path(), wrong).status().code(), absl::StatusCode::kNotFound);
}

TEST(SpoolRecoveryTest, TornTailAtEveryByteOfTheLastRecord) {
  TempDir dir;
  const std::vector<RecordLocation> locations = SpoolMessages(dir, 3);
  const std::string path = SegmentPath(dir.path(), 0, 0);
  const std::string full = ReadFile(path);
  const uint64_t last_start = locations[2].offset;
  ASSERT_EQ(full.size(), last_start + locations[2].length);
  for (uint64_t cut = last_start; cut < full.size(); ++cut) {
    WriteFile(path, std::string_view(full).substr(0, cut));
    absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->messages.size(), 2u) << "cut at " << cut;
    EXPECT_EQ(result->messages[1].location, locations[1]);
    EXPECT_EQ(result->stats.torn_tails_dropped, cut > last_start ? 1u : 0u) << cut;
    EXPECT_EQ(fs::file_size(path), last_start) << cut;
  }
}

TEST(SpoolRecoveryTest, DamagedLastRecordIsATornTail) {
  TempDir dir;
  const std::vector<RecordLocation> locations = SpoolMessages(dir, 3);
  const std::string path = SegmentPath(dir.path(), 0, 0);
  std::string bytes = ReadFile(path);
  bytes[bytes.size() - 3] ^= 0x01;
  WriteFile(path, bytes);
  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->messages.size(), 2u);
  EXPECT_EQ(result->stats.torn_tails_dropped, 1u);
  EXPECT_EQ(fs::file_size(path), locations[2].offset);
}

TEST(SpoolRecoveryTest, ZeroFillAfterTheLastRecordIsDropped) {
  TempDir dir;
  const std::vector<RecordLocation> locations = SpoolMessages(dir, 2);
  const std::string path = SegmentPath(dir.path(), 0, 0);
  const std::string bytes = ReadFile(path);
  WriteFile(path, bytes + std::string(10000, '\0'));
  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->messages.size(), 2u);
  EXPECT_EQ(result->stats.torn_tails_dropped, 1u);
  EXPECT_EQ(fs::file_size(path), bytes.size());
}

TEST(SpoolRecoveryTest, AppliesCompletionsDeletesFinishedSegmentsAndCompacts) {
  TempDir dir;
  std::vector<RecordLocation> live, finished;
  {
    AppenderOptions options = Options(dir);
    options.file_bytes_max = 50;  // one message per segment
    auto segments = *SegmentAppender::Open(options);
    live.push_back(*segments->Append(MakeMessage(0, 3)));
    finished.push_back(*segments->Append(MakeMessage(1, 1)));
    live.push_back(*segments->Append(MakeMessage(2, 2)));
    Flush(*segments);
    auto completions = *CompletionAppender::Open(Options(dir));
    completions->Append(CompletionOf(live[0], 0)).IgnoreError();
    completions->Append(CompletionOf(live[0], 2)).IgnoreError();
    completions->Append(CompletionOf(live[0], 2)).IgnoreError();  // duplicate
    completions->Append(CompletionOf(finished[0], 0)).IgnoreError();
    completions->Append(CompletionOf(live[1], 7)).IgnoreError();  // no such recipient
    Flush(*completions);
  }
  ASSERT_NE(live[0].segment_id, finished[0].segment_id);
  ASSERT_NE(live[1].segment_id, finished[0].segment_id);

  for (int round = 0; round < 2; ++round) {  // compaction keeps the state
    absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->messages.size(), 2u) << round;
    EXPECT_EQ(result->messages[0].location, live[0]);
    EXPECT_EQ(Finished(*result, result->messages[0]), (std::vector<bool>{true, false, true}));
    EXPECT_EQ(result->messages[0].live_recipients, 1u);
    EXPECT_EQ(result->messages[1].location, live[1]);
    EXPECT_EQ(result->messages[1].live_recipients, 2u);
    EXPECT_EQ(result->stats.recipients, 3u);
    EXPECT_EQ(result->stats.completions_applied, round == 0 ? 3u : 2u);
    EXPECT_FALSE(fs::exists(SegmentPath(dir.path(), 0, finished[0].segment_id)));
    EXPECT_EQ(result->segments.size(), 2u);
    EXPECT_EQ(result->stats.segments_deleted, round == 0 ? 1u : 0u);
    EXPECT_EQ(result->stats.completion_logs, 1u);
    EXPECT_EQ(result->next_segment_id, 3u);
  }
  int done_logs = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    done_logs += entry.path().filename().string().starts_with("done-");
  }
  EXPECT_EQ(done_logs, 1);
}

TEST(SpoolRecoveryTest, FinishedMessageNextToALiveOneStaysFinishedAcrossRestarts) {
  TempDir dir;
  const std::vector<RecordLocation> locations = SpoolMessages(dir, 2);
  {
    auto completions = *CompletionAppender::Open(Options(dir));
    completions->Append(CompletionOf(locations[0], 0)).IgnoreError();
    Flush(*completions);
  }
  for (int round = 0; round < 3; ++round) {
    absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->messages.size(), 1u) << round;
    EXPECT_EQ(result->messages[0].location, locations[1]);
    EXPECT_EQ(result->stats.completions_applied, 1u) << round;
  }
}

TEST(SpoolRecoveryTest, TornCompletionLogKeepsEarlierCompletions) {
  TempDir dir;
  const std::vector<RecordLocation> locations = SpoolMessages(dir, 1, /*recipients=*/3);
  std::string full;
  RecordLocation last;
  {
    auto completions = *CompletionAppender::Open(Options(dir, 0, 5));
    completions->Append(CompletionOf(locations[0], 0)).IgnoreError();
    last = *completions->Append(CompletionOf(locations[0], 1));
    Flush(*completions);
    full = ReadFile(CompletionLogPath(dir.path(), 0, 5));
  }
  for (uint64_t cut = last.offset + 1; cut < full.size(); ++cut) {
    // Compaction replaced the log with done-0-6: restore the torn original.
    fs::remove(CompletionLogPath(dir.path(), 0, 6));
    WriteFile(CompletionLogPath(dir.path(), 0, 5), std::string_view(full).substr(0, cut));
    absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->messages.size(), 1u);
    EXPECT_EQ(Finished(*result, result->messages[0]), (std::vector<bool>{true, false, false}))
        << cut;
    EXPECT_EQ(result->stats.torn_tails_dropped, 1u);
    EXPECT_EQ(result->next_completion_id, 7u);
  }
}

TEST(SpoolRecoveryTest, ScansEveryCoreAndNeverReusesIds) {
  TempDir dir;
  {
    auto core0 = *SegmentAppender::Open(Options(dir, 0, 4));
    auto core1 = *SegmentAppender::Open(Options(dir, 1, 9));
    core0->Append(MakeMessage(0)).IgnoreError();
    core1->Append(MakeMessage(1)).IgnoreError();
    core1->Append(MakeMessage(2)).IgnoreError();
    Flush(*core0);
    Flush(*core1);
  }
  WriteFile(dir.path() + "/unrelated.txt", "ignored");
  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->messages.size(), 3u);
  EXPECT_EQ(result->messages[0].location.core, 0u);
  EXPECT_EQ(result->messages[2].location.core, 1u);
  EXPECT_EQ(result->messages[2].queue_id, QueueIdOf(2));
  EXPECT_EQ(result->next_segment_id, 10u);
  auto reopened = SegmentAppender::Open(Options(dir, 1, result->next_segment_id));
  EXPECT_TRUE(reopened.ok());
}

TEST(SpoolRecoveryTest, InternsLowerCaseDomainsAndKeepsNoEnvelopeStrings) {
  TempDir dir;
  {
    auto appender = *SegmentAppender::Open(Options(dir));
    SpoolMessage bounce = MakeMessage(0);
    bounce.mail_from = "";
    bounce.recipients = {"a@Big.Example", "b@small.example", "c@big.example"};
    appender->Append(bounce).IgnoreError();
    SpoolMessage other = MakeMessage(1);
    other.queue_id = "not-an-id";
    other.recipients = {"d@BIG.example"};
    appender->Append(other).IgnoreError();
    Flush(*appender);
  }
  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->messages.size(), 2u);
  EXPECT_EQ(result->domains, (std::vector<std::string>{"big.example", "small.example"}));
  EXPECT_EQ(Domains(*result, result->messages[0]),
            (std::vector<std::string>{"big.example", "small.example", "big.example"}));
  EXPECT_EQ(Domains(*result, result->messages[1]), (std::vector<std::string>{"big.example"}));
  EXPECT_TRUE(result->messages[0].null_sender);
  EXPECT_FALSE(result->messages[1].null_sender);
  EXPECT_EQ(result->messages[0].queue_id, QueueIdOf(0));
  EXPECT_EQ(result->messages[1].queue_id, 0u);
  result->Release();
  EXPECT_TRUE(result->messages.empty() && result->recipients.empty() && result->domains.empty());
}

TEST(SpoolRecoveryTest, LargeRecordBetweenSmallOnes) {
  TempDir dir;
  SpoolMessage big = MakeMessage(0);
  big.data = std::string((9u << 20) + 12345, 'x');  // over any read-ahead
  RecordLocation location;
  {
    auto appender = *SegmentAppender::Open(Options(dir));
    appender->Append(MakeMessage(1)).IgnoreError();
    location = *appender->Append(big);
    appender->Append(MakeMessage(2)).IgnoreError();
    Flush(*appender);
  }
  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->messages.size(), 3u);
  EXPECT_EQ(result->messages[2].queue_id, QueueIdOf(2));
  EXPECT_EQ(ReadMessage(dir.path(), location)->data, big.data);
}

}  // namespace
}  // namespace etrnd::spool

namespace etrnd::spool {
namespace {

// A spare file made ahead of a roll and never written (crash, or a stop that
// could not remove it) is empty: no damage, nothing moved aside, it goes,
// and its id is not handed out again.
TEST(SpoolRecoveryTest, UnusedEmptySparesGoQuietly) {
  TempDir dir;
  const std::vector<RecordLocation> locations = SpoolMessages(dir, 2);
  {
    auto completions = *CompletionAppender::Open(Options(dir));
    completions->Append(CompletionOf(locations[0], 0)).IgnoreError();
    Flush(*completions);
  }
  WriteFile(SegmentPath(dir.path(), 0, 1), "");
  WriteFile(SegmentPath(dir.path(), 1, 6), "");
  WriteFile(CompletionLogPath(dir.path(), 0, 1), "");
  absl::StatusOr<RecoveryResult> result = RecoverSpool(dir.path());
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->messages.size(), 1u);
  EXPECT_EQ(result->messages[0].location, locations[1]);
  EXPECT_EQ(result->stats.damaged_ranges, 0u);
  EXPECT_EQ(result->stats.corrupt_files, 0u);
  EXPECT_EQ(result->stats.torn_tails_dropped, 0u);
  EXPECT_EQ(result->stats.files_moved_aside, 0u);
  EXPECT_FALSE(fs::exists(dir.path() + "/damaged"));
  EXPECT_FALSE(fs::exists(SegmentPath(dir.path(), 0, 1)));
  EXPECT_FALSE(fs::exists(SegmentPath(dir.path(), 1, 6)));
  EXPECT_FALSE(fs::exists(CompletionLogPath(dir.path(), 0, 1)));
  EXPECT_EQ(result->segments, (std::vector<SegmentKey>{SegmentKey{0, 0}}));
  EXPECT_GE(result->next_segment_id, 7u);
  EXPECT_GE(result->next_completion_id, 2u);
}

}  // namespace
}  // namespace etrnd::spool
