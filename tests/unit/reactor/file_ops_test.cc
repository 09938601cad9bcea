// File operations through the ring (no blocking syscall on a reactor
// thread): open, write, read, fsync, truncate, unlink and close.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
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

// The group committer's write: data-sync writes appended at an offset land
// where asked, and a write to a descriptor that cannot take it reports the
// error (never a silent success that would be acknowledged).
TEST(ReactorFileOpsTest, DataSyncWritesAppendAndReportErrors) {
  const std::string path = TempPath("dsync");
  std::vector<int> results;
  const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
  const int read_only = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_GE(read_only, 0);
  static const char kHead[] = "head ";
  static const char kTail[] = "tail";
  RunOnReactor([&](Reactor& r, std::function<void()> finish) {
    r.WriteVDataSync(fd, {iovec{const_cast<char*>(kHead), 5}}, 0, [&, finish](int a) {
      results.push_back(a);
      r.WriteVDataSync(fd, {iovec{const_cast<char*>(kTail), 4}}, 5, [&, finish](int b) {
        results.push_back(b);
        r.WriteVDataSync(read_only, {iovec{const_cast<char*>(kTail), 4}}, 9, [&, finish](int c) {
          results.push_back(c);
          finish();
        });
      });
    });
  });
  EXPECT_EQ(results, (std::vector<int>{5, 4, -EBADF}));
  std::string contents(16, '\0');
  contents.resize(static_cast<size_t>(std::max<ssize_t>(0, pread(fd, contents.data(), 16, 0))));
  ::close(fd);
  ::close(read_only);
  EXPECT_EQ(contents, "head tail");
  ::unlink(path.c_str());
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

TEST(ReactorFileOpsTest, RenameReplacesTheTarget) {
  const std::string from = TempPath("rename-from");
  const std::string to = TempPath("rename-to");
  int renamed = 1;
  {
    std::FILE* f = std::fopen(from.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("new", f);
    std::fclose(f);
    f = std::fopen(to.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  RunOnReactor([&](Reactor& r, std::function<void()> finish) {
    r.RenameAt(from, to, [&, finish](int res) {
      renamed = res;
      finish();
    });
  });
  EXPECT_EQ(renamed, 0);
  EXPECT_NE(access(from.c_str(), F_OK), 0);
  struct stat info {};
  ASSERT_EQ(stat(to.c_str(), &info), 0);
  EXPECT_EQ(info.st_size, 3);
  unlink(to.c_str());
}

// A Unix socket listener: a stale socket file is replaced, the mode is set
// before anyone can connect, and accepted connections reach the handler.
class EchoLine : public ConnectionHandler {
 public:
  void OnOpen(Connection&) override {}
  void OnReceive(Connection& conn, std::string_view bytes) override {
    conn.Send(std::string(bytes));
    conn.Close();
  }
  void OnClosed(Connection&, int) override {}
};

TEST(ReactorFileOpsTest, ListenPathAcceptsOnAUnixSocket) {
  const std::string path = TempPath("control.sock");
  {
    // A stale socket file, as a kill -9 leaves it.
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
    ASSERT_EQ(bind(stale, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    close(stale);
  }
  std::promise<Reactor*> started;
  std::thread thread([&] {
    auto reactor = Reactor::Create(0, ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    Reactor* r = reactor->get();
    ASSERT_TRUE(r->ListenPath(path, 0600, [](Reactor&, const SocketAddress&, const SocketAddress&) {
                   return std::make_unique<EchoLine>();
                 }).ok());
    EXPECT_TRUE(r->ListeningAddresses().empty());  // TCP addresses only
    started.set_value(r);
    r->Run();
  });
  Reactor* r = started.get_future().get();
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  int client = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(write(client, "ping\n", 5), 5);
  char reply[16] = {};
  size_t got = 0;
  while (got < 5) {
    ssize_t n = read(client, reply + got, sizeof(reply) - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(client);
  EXPECT_EQ(std::string(reply, got), "ping\n");
  r->Stop();
  thread.join();
  unlink(path.c_str());
}

}  // namespace
}  // namespace etrnd::reactor
