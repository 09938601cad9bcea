// SpoolReader against a real spool written by the real SegmentAppender, on a
// real reactor thread.
#include "etrnd/spool/spool_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "etrnd/reactor/reactor.h"
#include "etrnd/spool/segment_appender.h"
#include "etrnd/spool/spool_file_header.h"
#include "etrnd/spool/spool_recovery.h"
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
  message.recipients = {"a" + std::to_string(n) + "@example.com", "b@example.net"};
  message.data = "Subject: " + std::to_string(n) + "\r\n\r\n" + std::string(100 + n * 37, 'x');
  return message;
}

// Writes `count` messages, rolling to a new segment every `per_segment`.
std::vector<RecordLocation> WriteSpool(const std::string& dir, int count, int per_segment) {
  std::vector<RecordLocation> locations;
  AppenderOptions options;
  options.spool_dir = dir;
  options.core = 1;
  // One record per file (each append rolls) or all in one file.
  options.file_bytes_max = per_segment == 1 ? kFileHeaderBytes + 1 : kFileBytesMaxDefault;
  auto appender = SegmentAppender::Open(options);
  EXPECT_TRUE(appender.ok());
  for (int i = 0; i < count; ++i) {
    auto location = (*appender)->Append(MakeMessage(i));
    EXPECT_TRUE(location.ok());
    locations.push_back(*location);
    auto batch = (*appender)->TakeBatch();
    EXPECT_TRUE(batch.has_value());
    EXPECT_EQ(::pwrite(batch->fd, batch->bytes.data(), batch->bytes.size(),
                       static_cast<off_t>(batch->offset)),
              static_cast<ssize_t>(batch->bytes.size()));
    (*appender)->BatchDurable(*batch);
  }
  return locations;
}

// Runs `script` on a fresh reactor's thread until it calls finish.
void RunOnReactor(const std::function<void(reactor::Reactor&, std::function<void()>)>& script) {
  std::thread thread([&] {
    auto reactor = reactor::Reactor::Create(0, reactor::ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    reactor::Reactor* r = reactor->get();
    r->Post([r, &script] { script(*r, [r] { r->Stop(); }); });
    r->Run();
    EXPECT_EQ(r->file_ops_in_flight(), 0);
  });
  thread.join();
}

struct Outcome {
  size_t request;
  absl::StatusOr<SpoolMessage> message;
};

// Reads every location through one reader; records completions in order and
// the most reads in flight seen.
std::vector<Outcome> ReadAll(const std::string& dir, const std::vector<RecordLocation>& locations,
                             SpoolReader::Options options, size_t* in_flight_max = nullptr,
                             size_t* open_segments_max = nullptr) {
  std::vector<Outcome> outcomes;
  // Owned here, not by its own callbacks: a reader must not be destroyed
  // from inside one of its completions. Released in a task of its own.
  std::shared_ptr<SpoolReader> owner;
  RunOnReactor([&](reactor::Reactor& r, std::function<void()> finish) {
    owner = std::make_shared<SpoolReader>(r, dir, options);
    SpoolReader* reader = owner.get();
    auto left = std::make_shared<size_t>(locations.size());
    for (size_t i = 0; i < locations.size(); ++i) {
      reader->Read(locations[i], [&, i, reader, left, finish](absl::StatusOr<SpoolMessage> m) {
        if (in_flight_max != nullptr) {
          *in_flight_max = std::max(*in_flight_max, reader->reads_in_flight() + 1);
        }
        if (open_segments_max != nullptr) {
          *open_segments_max = std::max(*open_segments_max, reader->open_segments());
        }
        outcomes.push_back(Outcome{i, std::move(m)});
        if (--*left == 0) {
          reader->Shutdown();
          r.Post([&owner, finish] {
            owner.reset();
            finish();
          });
        }
      });
      if (in_flight_max != nullptr) {
        *in_flight_max = std::max(*in_flight_max, reader->reads_in_flight());
      }
    }
  });
  return outcomes;
}

TEST(SpoolReaderTest, ReadsComeBackByteExact) {
  TempDir dir;
  const std::vector<RecordLocation> locations = WriteSpool(dir.path(), 50, 50);
  const auto outcomes = ReadAll(dir.path(), locations, SpoolReader::Options{});
  ASSERT_EQ(outcomes.size(), locations.size());
  for (const Outcome& outcome : outcomes) {
    ASSERT_TRUE(outcome.message.ok()) << outcome.message.status();
    EXPECT_EQ(*outcome.message, MakeMessage(static_cast<int>(outcome.request)));
    auto blocking = ReadMessage(dir.path(), locations[outcome.request]);
    ASSERT_TRUE(blocking.ok());
    EXPECT_EQ(*outcome.message, *blocking);
  }
}

TEST(SpoolReaderTest, UnknownLengthReadsTheHeaderFirst) {
  TempDir dir;
  std::vector<RecordLocation> locations = WriteSpool(dir.path(), 5, 5);
  for (RecordLocation& location : locations) location.length = 0;
  const auto outcomes = ReadAll(dir.path(), locations, SpoolReader::Options{});
  ASSERT_EQ(outcomes.size(), 5u);
  for (const Outcome& outcome : outcomes) {
    ASSERT_TRUE(outcome.message.ok()) << outcome.message.status();
    EXPECT_EQ(*outcome.message, MakeMessage(static_cast<int>(outcome.request)));
  }
}

TEST(SpoolReaderTest, DamagedRecordIsAnErrorNotACrash) {
  TempDir dir;
  std::vector<RecordLocation> locations = WriteSpool(dir.path(), 3, 3);
  // Flip a payload byte of the second record, cut the third short.
  const std::string path = SegmentPath(dir.path(), 1, locations[1].segment_id);
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char byte = 0;
  const off_t at = static_cast<off_t>(locations[1].offset + locations[1].length - 3);
  ASSERT_EQ(::pread(fd, &byte, 1, at), 1);
  byte ^= 0x40;
  ASSERT_EQ(::pwrite(fd, &byte, 1, at), 1);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(locations[2].offset + 30)), 0);
  ::close(fd);
  RecordLocation missing = locations[0];
  missing.segment_id += 1000;  // no such file
  RecordLocation unknown_length = locations[1];
  unknown_length.length = 0;
  locations.push_back(missing);
  locations.push_back(unknown_length);
  auto outcomes = ReadAll(dir.path(), locations, SpoolReader::Options{});
  ASSERT_EQ(outcomes.size(), 5u);
  std::sort(outcomes.begin(), outcomes.end(),
            [](const Outcome& a, const Outcome& b) { return a.request < b.request; });
  EXPECT_TRUE(outcomes[0].message.ok());
  EXPECT_TRUE(absl::IsDataLoss(outcomes[1].message.status())) << outcomes[1].message.status();
  EXPECT_TRUE(absl::IsDataLoss(outcomes[2].message.status())) << outcomes[2].message.status();
  EXPECT_TRUE(absl::IsNotFound(outcomes[3].message.status())) << outcomes[3].message.status();
  EXPECT_TRUE(absl::IsDataLoss(outcomes[4].message.status())) << outcomes[4].message.status();
}

TEST(SpoolReaderTest, FdCacheStaysWithinItsBoundWithMoreSegmentsThanSlots) {
  TempDir dir;
  const std::vector<RecordLocation> locations = WriteSpool(dir.path(), 40, 1);
  ASSERT_EQ(locations.back().segment_id - locations.front().segment_id, 39u);
  // Read them twice over, so evicted segments are opened again.
  std::vector<RecordLocation> twice = locations;
  twice.insert(twice.end(), locations.begin(), locations.end());
  size_t open_max = 0;
  const auto outcomes = ReadAll(
      dir.path(), twice, SpoolReader::Options{.open_segments_max = 4, .reads_in_flight_max = 3},
      nullptr, &open_max);
  ASSERT_EQ(outcomes.size(), twice.size());
  for (const Outcome& outcome : outcomes) {
    ASSERT_TRUE(outcome.message.ok()) << outcome.message.status();
    EXPECT_EQ(*outcome.message, MakeMessage(static_cast<int>(outcome.request % 40)));
  }
  EXPECT_LE(open_max, 4u);
  EXPECT_GE(open_max, 3u);
  // Every fd was closed again (through the ring): none leaked.
  int probe = ::open("/dev/null", O_RDONLY);
  ::close(probe);
  EXPECT_LT(probe, 64);
}

TEST(SpoolReaderTest, OneReadInFlightCompletesInRequestOrder) {
  TempDir dir;
  const std::vector<RecordLocation> locations = WriteSpool(dir.path(), 20, 5);
  size_t in_flight_max = 0;
  const auto outcomes = ReadAll(
      dir.path(), locations, SpoolReader::Options{.open_segments_max = 2, .reads_in_flight_max = 1},
      &in_flight_max);
  ASSERT_EQ(outcomes.size(), 20u);
  for (size_t i = 0; i < outcomes.size(); ++i) EXPECT_EQ(outcomes[i].request, i);
  EXPECT_EQ(in_flight_max, 1u);
}

TEST(SpoolReaderTest, ReadsInFlightNeverAboveTheBound) {
  TempDir dir;
  const std::vector<RecordLocation> locations = WriteSpool(dir.path(), 200, 200);
  size_t in_flight_max = 0;
  const auto outcomes = ReadAll(
      dir.path(), locations, SpoolReader::Options{.open_segments_max = 8, .reads_in_flight_max = 8},
      &in_flight_max);
  ASSERT_EQ(outcomes.size(), 200u);
  for (const Outcome& outcome : outcomes) ASSERT_TRUE(outcome.message.ok());
  EXPECT_EQ(in_flight_max, 8u);
}

TEST(SpoolReaderTest, EvictedSegmentIsReopenedAndShutdownCancelsQueued) {
  TempDir dir;
  const std::vector<RecordLocation> locations = WriteSpool(dir.path(), 4, 4);
  std::vector<absl::Status> statuses(4, absl::UnknownError("not called"));
  std::shared_ptr<SpoolReader> owner;  // see ReadAll
  RunOnReactor([&](reactor::Reactor& r, std::function<void()> finish) {
    owner = std::make_shared<SpoolReader>(
        r, dir.path(), SpoolReader::Options{.open_segments_max = 2, .reads_in_flight_max = 1});
    SpoolReader* reader = owner.get();
    reader->Read(locations[0], [&, reader, finish](absl::StatusOr<SpoolMessage> first) {
      statuses[0] = first.status();
      EXPECT_EQ(reader->open_segments(), 1u);
      reader->EvictSegment(SegmentKey{locations[0].core, locations[0].segment_id});
      EXPECT_EQ(reader->open_segments(), 0u);
      reader->Read(locations[1], [&, reader, finish](absl::StatusOr<SpoolMessage> second) {
        statuses[1] = second.status();
        // Starts at once (the slot of the read that just finished is free)...
        reader->Read(locations[2],
                     [&](absl::StatusOr<SpoolMessage> m) { statuses[2] = m.status(); });
        // ...while this one waits in the queue and is cancelled.
        reader->Read(locations[3], [&, finish](absl::StatusOr<SpoolMessage> m) {
          statuses[3] = m.status();
          r.Post([&owner, finish] {
            owner.reset();
            finish();
          });
        });
        reader->Shutdown();
      });
    });
  });
  EXPECT_TRUE(statuses[0].ok()) << statuses[0];
  EXPECT_TRUE(statuses[1].ok()) << statuses[1];
  EXPECT_TRUE(statuses[2].ok()) << statuses[2];
  EXPECT_TRUE(absl::IsCancelled(statuses[3])) << statuses[3];
}

// etrnctl list's reads: the first bytes of each record, in the order asked,
// an error in the slot of a record whose file is gone, and never more than
// kBatchReadsOutstandingMax asked of the reader at once.
TEST(SpoolReaderTest, ReadPrefixesGivesEachRecordsFirstBytesInOrder) {
  TempDir dir;
  std::vector<RecordLocation> locations = WriteSpool(dir.path(), 150, 1);
  ASSERT_EQ(::unlink(SegmentPath(dir.path(), 1, locations[7].segment_id).c_str()), 0);
  constexpr size_t kPrefix = 40;
  std::vector<absl::StatusOr<std::string>> prefixes;
  size_t asked_max = 0;
  std::shared_ptr<SpoolReader> owner;
  // Sampled on every turn while the batch runs; it outlives the reactor run
  // (a copy that held a reference to itself would never be freed).
  std::function<void()> sample;
  RunOnReactor([&](reactor::Reactor& r, std::function<void()> finish) {
    owner = std::make_shared<SpoolReader>(r, dir.path());
    SpoolReader* reader = owner.get();
    sample = [&, reader] {
      asked_max = std::max(asked_max, reader->reads_in_flight() + reader->reads_queued());
      if (prefixes.empty()) r.Post(sample);
    };
    r.Post(sample);
    ReadPrefixes(*reader, locations, kPrefix,
                 [&, reader, finish](std::vector<absl::StatusOr<std::string>> results) {
                   prefixes = std::move(results);
                   reader->Shutdown();
                   r.Post([&owner, finish] {
                     owner.reset();
                     finish();
                   });
                 });
  });
  ASSERT_EQ(prefixes.size(), locations.size());
  for (size_t i = 0; i < locations.size(); ++i) {
    if (i == 7) {
      EXPECT_TRUE(absl::IsNotFound(prefixes[i].status())) << prefixes[i].status();
      continue;
    }
    ASSERT_TRUE(prefixes[i].ok()) << i << ": " << prefixes[i].status();
    std::string record;
    EncodeMessage(MakeMessage(static_cast<int>(i)), &record);
    EXPECT_EQ(*prefixes[i], record.substr(0, kPrefix)) << i;
  }
  EXPECT_GT(asked_max, 0u);
  EXPECT_LE(asked_max, kBatchReadsOutstandingMax);
}

TEST(SpoolReaderTest, ReadPrefixOfUnknownLengthStopsAtTheRecord) {
  TempDir dir;
  std::vector<RecordLocation> locations = WriteSpool(dir.path(), 3, 3);
  for (RecordLocation& location : locations) location.length = 0;  // header first
  std::vector<absl::StatusOr<std::string>> prefixes;
  std::shared_ptr<SpoolReader> owner;
  RunOnReactor([&](reactor::Reactor& r, std::function<void()> finish) {
    owner = std::make_shared<SpoolReader>(r, dir.path());
    SpoolReader* reader = owner.get();
    ReadPrefixes(*reader, locations, size_t{1} << 20,
                 [&, reader, finish](std::vector<absl::StatusOr<std::string>> results) {
                   prefixes = std::move(results);
                   reader->Shutdown();
                   r.Post([&owner, finish] {
                     owner.reset();
                     finish();
                   });
                 });
  });
  ASSERT_EQ(prefixes.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(prefixes[i].ok()) << prefixes[i].status();
    std::string record;
    EncodeMessage(MakeMessage(static_cast<int>(i)), &record);
    EXPECT_EQ(*prefixes[i], record);  // the whole record, not the next one
  }
}

}  // namespace
}  // namespace etrnd::spool
