// GroupCommitter against a real SegmentAppender in a temp dir and a fake
// CommitIo that holds each write (a data-sync write with fsync on) until the
// test completes it (the bytes land in the file for real), so the order of
// writes and the waiters' answers is the test's to see.
#include "etrnd/spool/group_commit.h"

#include <unistd.h>

#include <cerrno>
#include <deque>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "etrnd/spool/segment_appender.h"
#include "etrnd/spool/spool_file_header.h"
#include "etrnd/spool/spool_files.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace etrnd::spool {
namespace {

using testing::TempDir;

class FakeCommitIo : public CommitIo {
 public:
  struct Op {
    bool sync = false;  // RWF_DSYNC: the write is its own fdatasync
    int fd = -1;
    std::vector<iovec> iov;
    uint64_t offset = 0;
    std::function<void(int)> done;
  };

  void WriteV(int fd, std::vector<iovec> iov, uint64_t offset,
              std::function<void(int)> done) override {
    ops.push_back(Op{false, fd, std::move(iov), offset, std::move(done)});
  }
  void WriteVDataSync(int fd, std::vector<iovec> iov, uint64_t offset,
                      std::function<void(int)> done) override {
    ops.push_back(Op{true, fd, std::move(iov), offset, std::move(done)});
  }

  // Completes the oldest write: its bytes land in the file (or it fails
  // with -error, writing nothing).
  void CompleteNext(int error = 0) {
    ASSERT_FALSE(ops.empty());
    Op op = std::move(ops.front());
    ops.pop_front();
    if (error != 0) {
      op.done(-error);
      return;
    }
    ssize_t written = ::pwritev(op.fd, op.iov.data(), static_cast<int>(op.iov.size()),
                                static_cast<off_t>(op.offset));
    ASSERT_GT(written, 0);
    op.done(static_cast<int>(written));
  }
  bool next_is_sync() const { return !ops.empty() && ops.front().sync; }

  void RunAfter(absl::Duration delay, std::function<void()> fn) override {
    timers.push_back({delay, std::move(fn)});
  }
  // Fires the oldest timer (whatever its delay: the test is the clock).
  void FireTimer() {
    ASSERT_FALSE(timers.empty());
    std::function<void()> fn = std::move(timers.front().second);
    timers.pop_front();
    fn();
  }

  std::deque<Op> ops;
  std::deque<std::pair<absl::Duration, std::function<void()>>> timers;
};

SpoolMessage MakeMessage(int n) {
  SpoolMessage message;
  message.queue_id = absl::StrCat("Q", n);
  message.arrival_unix_micros = 1000 + n;
  message.mail_from = "sender@example.org";
  message.recipients = {absl::StrCat("r", n, "@example.com")};
  message.data = absl::StrCat("Subject: ", n, "\r\n\r\nbody\r\n");
  return message;
}

struct Fixture {
  TempDir dir;
  std::unique_ptr<SegmentAppender> appender;
  FakeCommitIo io;
  std::unique_ptr<GroupCommitter> committer;
  std::vector<absl::Status> answers;  // by message number; Unknown = not yet
  std::vector<RecordLocation> locations;

  explicit Fixture(bool fsync = true) {
    AppenderOptions options;
    options.spool_dir = dir.path();
    options.core = 0;
    auto opened = SegmentAppender::Open(options);
    EXPECT_TRUE(opened.ok()) << opened.status();
    appender = std::move(*opened);
    committer = std::make_unique<GroupCommitter>(io, *appender, fsync);
  }

  // Appends message n and waits for it.
  void Append(int n) {
    auto location = appender->Append(MakeMessage(n));
    ASSERT_TRUE(location.ok());
    if (answers.size() <= static_cast<size_t>(n)) answers.resize(n + 1, absl::UnknownError(""));
    locations.push_back(*location);
    committer->AwaitDurable(*location, [this, n](absl::Status status) { answers[n] = status; });
  }
  bool answered(int n) const { return !absl::IsUnknown(answers[n]); }

  // The messages in the segment file, in order.
  std::vector<SpoolMessage> FileMessages() const {
    std::ifstream in(SegmentPath(dir.path(), 0, locations.front().segment_id), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<SpoolMessage> messages;
    size_t at = kFileHeaderBytes;
    while (at < bytes.size()) {
      SpoolMessage message;
      size_t consumed = 0;
      if (DecodeMessage(std::string_view(bytes).substr(at), &consumed, &message) !=
          DecodeStatus::kOk) {
        // The zeros a batch writes ahead of the records (zero fill) end it.
        EXPECT_EQ(bytes.find_first_not_of('\0', at), std::string::npos)
            << "undecodable bytes at " << at;
        break;
      }
      messages.push_back(std::move(message));
      at += consumed;
    }
    return messages;
  }
};

TEST(GroupCommitTest, OneBatchPerFlushAndWaitersOnlyAfterTheSync) {
  Fixture f;
  // One loop turn's appends...
  for (int n = 0; n < 3; ++n) f.Append(n);
  f.committer->Flush();  // ...the loop-end hook
  ASSERT_EQ(f.io.ops.size(), 1u) << "one write for the whole turn";
  EXPECT_TRUE(f.io.next_is_sync()) << "with fsync on, the write is a data-sync write";
  for (int n = 0; n < 3; ++n) EXPECT_FALSE(f.answered(n)) << n << " answered before its sync";
  // The next turn's appends wait while a batch is in flight.
  f.Append(3);
  f.Append(4);
  f.committer->Flush();
  EXPECT_EQ(f.io.ops.size(), 1u) << "one batch in flight at a time";
  f.io.CompleteNext();  // written and synced
  for (int n = 0; n < 3; ++n) EXPECT_TRUE(f.answers[n].ok()) << n << ": " << f.answers[n];
  EXPECT_FALSE(f.answered(3));
  EXPECT_EQ(f.committer->batches_committed(), 1u);
  // Its completion started the next group at once.
  ASSERT_EQ(f.io.ops.size(), 1u);
  EXPECT_FALSE(f.answered(3));
  f.io.CompleteNext();
  EXPECT_TRUE(f.answers[3].ok());
  EXPECT_TRUE(f.answers[4].ok());
  EXPECT_EQ(f.committer->batches_committed(), 2u);
  EXPECT_TRUE(f.committer->idle());
  EXPECT_EQ(f.FileMessages().size(), 5u);
}

TEST(GroupCommitTest, WithoutFsyncTheWriteIsEnough) {
  Fixture f(/*fsync=*/false);
  f.Append(0);
  f.committer->Flush();
  ASSERT_EQ(f.io.ops.size(), 1u);
  EXPECT_FALSE(f.io.next_is_sync()) << "a plain write with --fsync=false";
  f.io.CompleteNext();
  EXPECT_TRUE(f.answers[0].ok());
}

TEST(GroupCommitTest, FailedWriteAnswersTheWholeBatchAndKeepsEarlierRecords) {
  Fixture f;
  f.Append(0);
  f.Append(1);
  f.committer->Flush();
  f.io.CompleteNext();
  ASSERT_TRUE(f.answers[0].ok() && f.answers[1].ok());

  for (int n = 2; n < 5; ++n) f.Append(n);
  f.committer->Flush();
  f.Append(5);  // appended behind the failing batch: its offset dies with it
  f.io.CompleteNext(ENOSPC);
  for (int n = 2; n < 6; ++n) {
    EXPECT_TRUE(absl::IsResourceExhausted(f.answers[n])) << n << ": " << f.answers[n];
  }
  EXPECT_TRUE(f.io.ops.empty());
  std::vector<SpoolMessage> kept = f.FileMessages();
  ASSERT_EQ(kept.size(), 2u) << "the failed batch is cut off, the durable ones stay";
  EXPECT_EQ(kept[0], MakeMessage(0));
  EXPECT_EQ(kept[1], MakeMessage(1));

  // Any other error fails its batch the same way; the log goes on after.
  f.Append(6);
  f.committer->Flush();
  f.io.CompleteNext(EIO);
  EXPECT_TRUE(absl::IsInternal(f.answers[6])) << f.answers[6];
  f.Append(7);
  f.committer->Flush();
  f.io.CompleteNext();
  EXPECT_TRUE(f.answers[7].ok()) << f.answers[7];
  kept = f.FileMessages();
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept[2], MakeMessage(7));
}

// With a batch interval, records appended soon after a batch started wait
// for the interval's timer (not for a loop turn that may never come).
TEST(GroupCommitTest, BatchIntervalDefersTheNextBatchToItsTimer) {
  Fixture f;
  f.committer->set_batch_interval(absl::Hours(1));
  f.Append(0);
  f.committer->Flush();  // the first batch goes at once
  ASSERT_EQ(f.io.ops.size(), 1u);
  f.io.CompleteNext();
  EXPECT_TRUE(f.answered(0));
  f.Append(1);
  f.Append(2);
  f.committer->Flush();
  f.committer->Flush();  // more loop turns within the interval
  EXPECT_TRUE(f.io.ops.empty()) << "a second batch inside the interval";
  ASSERT_EQ(f.io.timers.size(), 1u) << "one timer, however many turns";
  EXPECT_GT(f.io.timers.front().first, absl::Minutes(59));
  f.io.FireTimer();
  ASSERT_EQ(f.io.ops.size(), 1u) << "the timer starts the batch";
  f.io.CompleteNext();
  EXPECT_TRUE(f.answered(1) && f.answered(2));
  EXPECT_EQ(f.FileMessages().size(), 3u);
}

TEST(GroupCommitTest, NothingPendingArmsNoTimer) {
  Fixture f;
  f.committer->set_batch_interval(absl::Hours(1));
  f.Append(0);
  f.committer->Flush();
  f.io.CompleteNext();  // its own Flush() finds nothing more
  f.committer->Flush();
  EXPECT_TRUE(f.io.timers.empty());
  EXPECT_TRUE(f.io.ops.empty());
}

// A clean stop sets the interval back to zero: the pending records go with
// the next Flush(), even while the interval's timer is still armed.
TEST(GroupCommitTest, ZeroIntervalFlushesAtOnceDespiteAnArmedTimer) {
  Fixture f;
  f.committer->set_batch_interval(absl::Hours(1));
  f.Append(0);
  f.committer->Flush();
  f.io.CompleteNext();
  f.Append(1);
  f.committer->Flush();
  ASSERT_EQ(f.io.timers.size(), 1u);
  f.committer->set_batch_interval(absl::ZeroDuration());
  f.committer->Flush();
  ASSERT_EQ(f.io.ops.size(), 1u);
  f.io.CompleteNext();
  EXPECT_TRUE(f.answered(1));
  f.io.FireTimer();  // late and harmless
  EXPECT_TRUE(f.io.ops.empty());
}

}  // namespace
}  // namespace etrnd::spool
