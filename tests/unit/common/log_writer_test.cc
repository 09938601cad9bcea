// The log writer thread: reactor threads' lines arrive whole and in order,
// and a reactor thread never waits for stderr (a blocked stderr costs lines,
// counted, not time).
#include "etrnd/common/log_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "etrnd/common/log.h"
#include "gtest/gtest.h"

namespace etrnd {
namespace {

// Points stderr at fd for the test's life, then back.
class StderrTo {
 public:
  explicit StderrTo(int fd) : saved_(dup(STDERR_FILENO)) { dup2(fd, STDERR_FILENO); }
  ~StderrTo() { Restore(); }
  void Restore() {
    if (saved_ < 0) return;
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    saved_ = -1;
  }

 private:
  int saved_;
};

std::string ReadAll(int fd) {
  std::string out;
  char buffer[65536];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

// The lines written to the temporary file fd (path), which goes.
std::vector<std::string> TakeLines(int fd, const char* path) {
  lseek(fd, 0, SEEK_SET);
  const std::string text = ReadAll(fd);
  close(fd);
  unlink(path);
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(LogWriterTest, AReactorThreadsLinesArriveWholeAndInOrder) {
  char path[] = "/tmp/etrnd-log-writer-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  {
    StderrTo redirect(fd);
    StartLogWriter();
    std::thread reactor([] {
      SetLogThreadIndex(0);
      for (int i = 0; i < 20000; ++i) {
        EXPECT_TRUE(QueueLogLine(absl::StrCat("line ", i, "\n")));
      }
    });
    reactor.join();
    StopLogWriter();
  }
  const std::vector<std::string> lines = TakeLines(fd, path);
  ASSERT_EQ(lines.size(), 20000u);
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(lines[i], absl::StrCat("line ", i)) << i;
}

TEST(LogWriterTest, AReactorThreadDoesNotWaitForABlockedStderr) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  StderrTo redirect(pipe_fds[1]);
  StartLogWriter();
  // Nobody reads the pipe yet: the writer blocks on it, the thread's queue
  // fills, and later lines are dropped instead of waited for.
  const std::string line(1000, 'x');
  std::thread reactor([&line] {
    SetLogThreadIndex(0);
    for (int i = 0; i < 3000; ++i) EXPECT_TRUE(QueueLogLine(line + "\n"));
  });
  reactor.join();  // 3 MB against a 64 KiB pipe and a 1 MiB queue: it returned
  std::string text;
  std::thread reader([&text, fd = pipe_fds[0]] { text = ReadAll(fd); });
  StopLogWriter();  // writes what was queued, and the count of what was not
  redirect.Restore();
  close(pipe_fds[1]);
  reader.join();
  close(pipe_fds[0]);
  EXPECT_NE(text.find("log lines dropped (the log writer fell behind)"), std::string::npos);
  const size_t whole = text.size() / 1001;
  EXPECT_GE(whole, 1000u);  // the queue's worth and the pipe's came through
  EXPECT_LT(whole, 3000u);
}

TEST(LogWriterTest, AWakeAtTheTurnsEndWritesWhatTheTurnQueued) {
  char path[] = "/tmp/etrnd-log-writer-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string text;
  {
    StderrTo redirect(fd);
    StartLogWriter();
    std::thread reactor([] {
      SetLogThreadIndex(0);
      EXPECT_TRUE(QueueLogLine("first\n"));
      EXPECT_TRUE(QueueLogLine("second\n"));
      WakeLogWriter();  // the loop-end hook
    });
    reactor.join();
    // Written while the writer still runs, not only by the stop's drain.
    for (int i = 0; i < 5000 && text.size() < 13; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      char buffer[64];
      ssize_t n = pread(fd, buffer, sizeof(buffer), 0);
      text.assign(buffer, n > 0 ? static_cast<size_t>(n) : 0);
    }
    StopLogWriter();
  }
  close(fd);
  unlink(path);
  EXPECT_EQ(text, "first\nsecond\n");
}

TEST(LogWriterTest, OtherThreadsAndAStoppedWriterWriteDirectly) {
  EXPECT_FALSE(QueueLogLine("not queued\n"));  // writer stopped
  StartLogWriter();
  EXPECT_FALSE(QueueLogLine("not queued\n"));  // this thread is no reactor
  StopLogWriter();
}

TEST(LogWriterTest, ATurnThatLoggedDoesNotWakeAWriterThatIsComingBackAnyway) {
  char path[] = "/tmp/etrnd-log-writer-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  uint32_t wakes = 0;
  {
    StderrTo redirect(fd);
    StartLogWriter();
    const uint32_t wakes_before = LogWriterWakes();
    std::thread reactor([] {
      SetLogThreadIndex(0);
      for (int turn = 0; turn < 2000; ++turn) {  // a line in every turn
        EXPECT_TRUE(QueueLogLine(absl::StrCat("turn ", turn, "\n")));
        WakeLogWriter();
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    });
    reactor.join();
    wakes = LogWriterWakes() - wakes_before;
    StopLogWriter();
  }
  const std::vector<std::string> lines = TakeLines(fd, path);
  ASSERT_EQ(lines.size(), 2000u);
  EXPECT_EQ(lines.back(), "turn 1999");
  // One wake per turn before; now one when the writer was idle, and again
  // only if it stayed idle for a whole kLogWriterInterval.
  EXPECT_LT(wakes, 100u);
}

}  // namespace
}  // namespace etrnd
