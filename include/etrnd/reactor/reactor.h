// One io_uring event loop per thread (shared-nothing). Owns its listening
// sockets (SO_REUSEPORT, multishot accept), its connections (multishot recv
// into a provided buffer ring), timers and file I/O. Other reactors send it
// work through PostTo() (a lock-free queue per pair, woken by
// IORING_OP_MSG_RING); other threads through Post() (mutex + eventfd).
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etrnd/common/net_address.h"
#include "etrnd/reactor/background_pacing.h"
#include "etrnd/reactor/connection.h"
#include "etrnd/reactor/turn_profile.h"

namespace etrnd::reactor {

struct Listener;
struct Operation;
class ReactorMesh;

struct ReactorOptions {
  unsigned ring_entries = 4096;
  // Provided receive buffers: count must be a power of two.
  unsigned recv_buffer_count = 1024;
  unsigned recv_buffer_bytes = 16 * 1024;
  // Connection::Close() waits this long for the peer to take the queued
  // bytes, then aborts: a non-reading peer cannot hold a slot or shutdown.
  absl::Duration close_drain_timeout = absl::Seconds(5);
  // SO_SNDBUF of accepted sockets (0 = autotuning, up to megabytes of kernel
  // memory per peer that does not read).
  int accepted_send_buffer_bytes = 0;
  // Multishot recv keeps taking whatever the peer sends until it is
  // cancelled, so a paused connection can still deliver many buffers; a
  // one-shot recv per buffer bounds that to one buffer.
  bool accepted_multishot_recv = true;
  // At most this share of the core goes to background work (deliveries)
  // while clients are active (see BackgroundPacing).
  int background_busy_share_percent = BackgroundPacing::kDefaultBusySharePercent;
  // Background completions held for their slice. When the hold is full its
  // oldest runs at once, charged to the share, and the ring is still read:
  // left at the ring's head, a background completion would hold every
  // client's completion behind it and wake the loop for nothing until the
  // budget allowed a slice (measured: a third of a core spinning at a 3 %
  // share). Each held receive also holds a provided buffer.
  size_t background_held_max = 256;
};

class Reactor {
 public:
  using HandlerFactory = std::function<std::unique_ptr<ConnectionHandler>(
      Reactor& reactor, const SocketAddress& peer, const SocketAddress& local)>;
  using TimerId = uint64_t;

  // Must be called on the thread that will call Run(): the ring is
  // IORING_SETUP_SINGLE_ISSUER (using it from another thread aborts).
  static absl::StatusOr<std::unique_ptr<Reactor>> Create(int index, const ReactorOptions& options);
  ~Reactor();

  int index() const { return index_; }

  // Binds addr with SO_REUSEADDR|SO_REUSEPORT (each reactor binds its own
  // socket to the same address) and accepts with multishot accept. The
  // factory builds a handler per accepted connection.
  absl::Status Listen(const SocketAddress& addr, HandlerFactory factory);
  // Binds a Unix stream socket at `path` (a stale socket file there is
  // removed first), gives it `mode` before it listens, and accepts like
  // Listen(). Accepted connections have unspecified addresses. One reactor
  // only: a Unix socket has no SO_REUSEPORT sharing.
  absl::Status ListenPath(const std::string& path, mode_t mode, HandlerFactory factory);
  // The bound addresses of the TCP listening sockets (port 0 resolved).
  std::vector<SocketAddress> ListeningAddresses() const;
  // Opens an outbound connection; handler->OnOpen on success, else OnClosed
  // with the error (-ETIMEDOUT when `timeout` passes first). A background
  // connection (Connection::SetBackground) is one from its connect on.
  void Connect(const SocketAddress& addr, std::unique_ptr<ConnectionHandler> handler,
               absl::Duration timeout = absl::Seconds(30), bool background = false);

  TimerId RunAfter(absl::Duration delay, std::function<void()> fn);
  void CancelTimer(TimerId id);

  // Thread-safe: runs fn on this reactor's thread soon. From another thread
  // it takes a mutex and writes an eventfd: for threads that are not
  // reactors (signals, reload, shutdown, tests), not for request paths.
  // From this reactor's own thread it takes no lock (runs next turn).
  void Post(std::function<void()> fn);

  // Joins the mesh at position index() (on this reactor's thread, before
  // any PostTo between members). Every member must outlive the mesh's use.
  void JoinMesh(ReactorMesh& mesh);
  // Runs fn on target's thread soon. Must be called on this reactor's thread
  // and target must be in the same mesh. Tasks to one target run in the
  // order they were posted (no order against Post() or other senders). No
  // lock: the task goes into this pair's queue (kCrossCoreQueueSlots), or,
  // when it is full, into an overflow list drained in order at this
  // reactor's loop end; target is woken through IORING_OP_MSG_RING from
  // this reactor's ring at the loop end, once per batch.
  void PostTo(Reactor& target, std::function<void()> fn);
  // Runs fn after each batch of completions, before the ring is submitted:
  // the place to batch work (group commit, coalesced sends).
  void AddLoopEndHook(std::function<void()> fn);
  // Called once per loop turn with where the turn's time went (completions,
  // timers, posted work, hooks, sends; the ring wait excluded), as much as
  // `detail` asks for. One observer, set before Run(); none by default, and
  // then the turn reads no clock.
  void SetTurnObserver(std::function<void(const TurnProfile&)> fn,
                       TurnDetail detail = TurnDetail::kFull);

  // File I/O through the ring. res is the syscall result (bytes or -errno).
  void WriteV(int fd, std::vector<iovec> iov, uint64_t offset, std::function<void(int res)> done);
  void Fdatasync(int fd, std::function<void(int res)> done);
  // WriteV whose completion also means durable, like WriteV then Fdatasync
  // of the range written (RWF_DSYNC): one operation, so one trip through the
  // kernel's worker threads instead of two.
  void WriteVDataSync(int fd, std::vector<iovec> iov, uint64_t offset,
                      std::function<void(int res)> done);
  // Full fsync (a directory's entries after a create, rename or unlink).
  void Fsync(int fd, std::function<void(int res)> done);
  void Read(int fd, void* buffer, size_t bytes, uint64_t offset, std::function<void(int res)> done);
  // res is the new fd. Relative paths are relative to the working directory.
  void OpenAt(std::string path, int flags, mode_t mode, std::function<void(int res)> done);
  void Unlink(std::string path, std::function<void(int res)> done);
  // rename(2): replaces `to` atomically (the last step of a durable rewrite).
  void RenameAt(std::string from, std::string to, std::function<void(int res)> done);
  void Ftruncate(int fd, uint64_t length, std::function<void(int res)> done);
  void CloseFile(int fd, std::function<void(int res)> done);
  int file_ops_in_flight() const;

  // One-shot readiness poll (POLLIN/POLLOUT) through the ring, for sockets
  // owned by a library (c-ares). done gets the revents, or -ECANCELED after
  // CancelPoll(), or another -errno.
  using PollId = uint64_t;
  PollId PollOnce(int fd, uint32_t events, std::function<void(int result)> done);
  void CancelPoll(PollId id);

  // Runs until Stop(); returns when every connection is closed.
  void Run();
  // Thread-safe. Stops accepting; Run() returns once connections are gone
  // (callers close them, e.g. with a 421, from a Post()ed function first).
  void Stop();
  // Stops listening (no new connections), leaving existing ones alone.
  void StopAccepting();

  size_t connection_count() const;
  // For shutdown: visit every open connection.
  void ForEachConnection(const std::function<void(Connection&)>& fn);

  struct Impl;

 private:
  friend class Connection;
  Reactor(int index, std::unique_ptr<Impl> impl);

  Connection* AddConnection(int fd, const SocketAddress& peer, const SocketAddress& local,
                            std::unique_ptr<ConnectionHandler> handler);
  void ArmWake();
  void ArmAccept(Listener& listener);
  absl::Status StartListener(int fd, const SocketAddress& addr, std::string path,
                             HandlerFactory factory);
  void ArmRecv(Connection& connection);
  void SubmitSend(Connection& connection);
  void Dispatch(uint64_t user_data, int32_t res, uint32_t flags);
  bool IsBackground(const Operation* op) const;
  // The held background completions, paced by BackgroundPacing (at least
  // one when it lets them run).
  void RunBackground(bool profiling);
  // Pops the oldest held background completion and dispatches it (the
  // caller marks background dispatch); returns its op kind when profiling.
  const char* DispatchOldestHeld(bool profiling);
  // The hold is full: its oldest completion runs now, charged to the share.
  void RunOldestBackground(bool profiling);
  // Prepares the queued sends and submits what the SQ holds (mid-turn).
  void SubmitNow();
  void HandleAccept(Listener& listener, int result, bool more);
  void HandleConnect(Connection& connection, int result);
  void HandleRecv(Connection& connection, int result, uint32_t flags);
  void HandleSend(Connection& connection, int result);
  void ScheduleTeardownCheck(Connection& connection);
  void ArmCloseDrainDeadline(Connection& connection);
  void CancelReceiveForPause(Connection& connection);
  void RearmReceiveAfterPause(Connection& connection);
  void AdvanceTeardown(Connection& connection);
  void FinishConnection(Connection& connection);
  void RunTeardownChecks();
  void FlushSends();
  // Each runs at least one due item, then stops at stop_at (the turn's
  // budget), leaving the rest for the next turn.
  void RunDueTimers(absl::Time stop_at);
  void RunPosted(absl::Time stop_at);
  bool OnOwnThread() const;
  void FlushCrossCore();
  void SendCrossCoreWake(Reactor& target);
  bool RunCrossCore(absl::Time stop_at);
  int index_;
  std::unique_ptr<Impl> impl_;
};

// Online CPUs (for --threads=0).
int OnlineCpuCount();

}  // namespace etrnd::reactor
