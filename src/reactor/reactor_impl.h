// Internals shared by reactor.cc and connection.cc.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "etrnd/reactor/background_pacing.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/reactor/turn_profile.h"
#include "provided_buffers.h"

namespace etrnd::reactor {

// What a completion belongs to; the SQE's user_data points at an Operation.
enum class OpKind : uint8_t {
  kAccept,
  kRecv,
  kSend,
  kConnect,
  kCancel,
  kWake,
  kFile,
  kPoll,
  kPollRemove,
  kCrossCoreWake,  // a sender's MSG_RING arrived on this ring
  kMsgRingSent     // this ring's own completion of a MSG_RING it sent
};

struct Operation {
  OpKind kind;
  void* owner = nullptr;               // Listener* or Connection*
  std::function<void(int)> file_done;  // kFile only (heap-allocated ops)
  std::vector<iovec> file_iov;         // kFile writev: kept alive until completion
  uint64_t poll_id = 0;                // kPoll
  std::string path;                    // kFile openat/unlinkat: kept alive until completion
  bool background = false;             // kFile: submitted while handling background work
};

// A background completion taken from the ring and held for the turn's
// background slice (the CQE's fields; the Operation stays in flight).
struct DeferredCompletion {
  uint64_t user_data;
  int32_t res;
  uint32_t flags;
};

Operation& IgnoredCompletion();

// For the turn profile: the op kind's name.
const char* OpKindName(OpKind kind);

inline std::string ErrnoText(int error) { return std::strerror(error); }

// One loop turn's completions, due timers and posted work together stop
// taking more once this is spent (each phase still runs at least one item,
// so none starves): the rest waits for the next turn, after the sends. The
// goal is no turn over a millisecond.
inline constexpr absl::Duration kTurnBudget = absl::Microseconds(500);
// Completions handled between two looks at the clock.
inline constexpr unsigned kCompletionsPerClockRead = 16;
// While a sender holds tasks in an overflow list it waits at most this long
// in the ring, then retries: the receiver does not tell it when slots free.
inline constexpr absl::Duration kCrossCoreOverflowRetry = absl::Microseconds(200);
// IORING_OP_FTRUNCATE (include/uapi/linux/io_uring.h, Linux 6.9).
inline constexpr int kOpFtruncate = 55;

struct Listener {
  int fd = -1;
  SocketAddress address;  // unspecified for a Unix socket (path)
  std::string path;       // the Unix socket's path, "" for TCP
  Reactor::HandlerFactory factory;
  Operation accept_op{OpKind::kAccept, nullptr, {}, {}, 0, {}};
  bool armed = false;
};

// Per-connection operations live inside the connection (no allocation per op).
struct ConnectionOps {
  Operation recv{OpKind::kRecv, nullptr, {}, {}, 0, {}};
  Operation send{OpKind::kSend, nullptr, {}, {}, 0, {}};
  Operation connect{OpKind::kConnect, nullptr, {}, {}, 0, {}};
  Operation cancel{OpKind::kCancel, nullptr, {}, {}, 0, {}};
  static constexpr int kMaxSendPieces = 32;
  iovec send_iov[kMaxSendPieces];
  msghdr send_msg{};
  sockaddr_storage connect_addr{};
  __kernel_timespec connect_timeout{};
};

struct Reactor::Impl {
  io_uring ring{};
  bool ring_ready = false;
  ReactorOptions options;
  ProvidedBuffers* buffers = nullptr;

  std::vector<std::unique_ptr<Listener>> listeners;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> connections;
  absl::flat_hash_map<Connection*, std::unique_ptr<ConnectionOps>> ops;
  uint64_t next_connection_id = 1;
  std::vector<uint64_t> send_pending;  // ids of connections with output to flush
  std::vector<uint64_t> maybe_done;    // ids of connections to check for teardown

  // Timers: ordered by deadline, then id (ids are unique and increasing).
  std::map<std::pair<absl::Time, TimerId>, std::function<void()>> timers;
  absl::flat_hash_map<TimerId, absl::Time> timer_deadline;
  TimerId next_timer_id = 1;

  // Cross-thread task queue, drained on the reactor thread; the eventfd read
  // wakes the ring when a producer posts to an empty queue.
  std::mutex posted_mutex;
  std::vector<std::function<void()>> posted;
  bool wake_seen = false;                          // the eventfd fired this turn
  std::deque<std::function<void()>> posted_ready;  // reactor thread only: taken, not yet run
  bool wake_pending = false;                       // guarded by posted_mutex
  int wake_fd = -1;
  uint64_t wake_value = 0;
  Operation wake_op{OpKind::kWake, nullptr, {}, {}, 0, {}};

  // Post() from the reactor's own thread: no lock, runs next turn.
  std::vector<std::function<void()>> posted_local;

  // Cross-core messages (PostTo). Receiver side: a MSG_RING arrived
  // (cross_core_seen) or the turn budget left inbound tasks queued
  // (cross_core_left). Sender side: pairs to flush at the loop end and the
  // tasks held in their overflow lists.
  std::thread::id owner_thread;
  ReactorMesh* mesh = nullptr;
  bool cross_core_seen = false;
  bool cross_core_left = false;
  size_t cross_core_next_sender = 0;  // receiver side: fairness across senders
  std::vector<size_t> cross_core_dirty;
  size_t overflow_tasks = 0;
  Operation cross_core_wake_op{OpKind::kCrossCoreWake, nullptr, {}, {}, 0, {}};
  std::vector<std::unique_ptr<Operation>> msg_ring_ops;  // by receiver index; owner = receiver
  bool msg_ring_failed_logged = false;

  std::vector<std::function<void()>> loop_end_hooks;
  std::function<void(const TurnProfile&)> turn_observer;
  TurnDetail turn_detail = TurnDetail::kFull;
  TurnProfile turn;  // the current turn's phases; filled only with an observer
  int file_ops_in_flight = 0;
  // Background completions waiting for this turn's background slice, in
  // ring order; and whether the one being handled is one (its file ops are).
  std::deque<DeferredCompletion> background;
  bool dispatching_background = false;
  BackgroundPacing pacing{kTurnBudget, BackgroundPacing::kDefaultBusySharePercent};
  absl::flat_hash_map<uint64_t, Operation*> polls;  // PollId -> pending poll
  uint64_t next_poll_id = 1;
  bool stopping = false;
  bool accepting = true;

  io_uring_sqe* GetSqe();
  // A file operation's record (freed by its completion).
  Operation* NewFileOp(std::function<void(int)> done, std::vector<iovec> iov = {},
                       std::string path = {}) {
    auto* op =
        new Operation{OpKind::kFile, nullptr, std::move(done), std::move(iov), 0, std::move(path)};
    op->background = dispatching_background;
    return op;
  }
};

}  // namespace etrnd::reactor
