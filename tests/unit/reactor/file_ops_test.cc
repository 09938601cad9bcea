// File operations through the ring (no blocking syscall on a reactor
// thread): open, write, read, fsync, truncate, unlink and close.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "etrnd/reactor/reactor.h"
#include "gtest/gtest.h"

namespace etrnd::reactor {
namespace {

// Runs `script` on a fresh reactor's thread; the script calls `finish` once
// its last completion arrived.
void RunOnReactor(const std::function<void(Reactor&, std::function<void()> finish)>& script) {
  std::thread thread([&] {
    auto reactor = Reactor::Create(0, ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    Reactor* r = reactor->get();
    r->Post([r, &script] { script(*r, [r] { r->Stop(); }); });
    r->Run();
    EXPECT_EQ(r->file_ops_in_flight(), 0);
  });
  thread.join();
}

std::string TempPath(const char* name) {
  const char* base = std::getenv("TMPDIR");
  return std::string(base != nullptr ? base : "/tmp") + "/etrnd-fileops-" +
         std::to_string(getpid()) + "-" + name;
}

TEST(ReactorFileOpsTest, OpenWriteReadTruncateUnlinkClose) {
  const std::string path = TempPath("a");
  std::vector<std::string> steps;
  std::string read_back(5, '\0');
  struct stat after_truncate {};
  bool exists_after_unlink = true;
  RunOnReactor([&](Reactor& r, std::function<void()> finish) {
    r.OpenAt(path, O_CREAT | O_RDWR | O_TRUNC, 0600, [&, finish](int fd) {
      steps.push_back("open " + std::to_string(fd >= 0));
      static const char kText[] = "hello world";
      r.WriteV(fd, {iovec{const_cast<char*>(kText), 11}}, 0, [&, fd, finish](int written) {
        steps.push_back("write " + std::to_string(written));
        r.Read(fd, read_back.data(), 5, 6, [&, fd, finish](int got) {
          steps.push_back("read " + std::to_string(got));
          r.Ftruncate(fd, 3, [&, fd, finish](int truncated) {
            steps.push_back("truncate " + std::to_string(truncated));
            fstat(fd, &after_truncate);
            r.Fsync(fd, [&, fd, finish](int synced) {
              steps.push_back("fsync " + std::to_string(synced));
              r.CloseFile(fd, [&, finish](int closed) {
                steps.push_back("close " + std::to_string(closed));
                r.Unlink(path, [&, finish](int unlinked) {
                  steps.push_back("unlink " + std::to_string(unlinked));
                  exists_after_unlink = access(path.c_str(), F_OK) == 0;
                  finish();
                });
              });
            });
          });
        });
      });
    });
  });
  EXPECT_EQ(steps, (std::vector<std::string>{"open 1", "write 11", "read 5", "truncate 0",
                                             "fsync 0", "close 0", "unlink 0"}));
  EXPECT_EQ(read_back, "world");
  EXPECT_EQ(after_truncate.st_size, 3);
  EXPECT_FALSE(exists_after_unlink);
}

TEST(ReactorFileOpsTest, ErrorsComeBackAsNegativeErrno) {
  int open_result = 0;
  int unlink_result = 0;
  RunOnReactor([&](Reactor& r, std::function<void()> finish) {
    r.OpenAt("/nonexistent-dir-etrnd/x", O_RDONLY, 0, [&, finish](int fd) {
      open_result = fd;
      r.Unlink("/nonexistent-dir-etrnd/x", [&, finish](int res) {
        unlink_result = res;
        finish();
      });
    });
  });
  EXPECT_EQ(open_result, -ENOENT);
  EXPECT_EQ(unlink_result, -ENOENT);
}

}  // namespace
}  // namespace etrnd::reactor
