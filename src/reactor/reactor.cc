#include "etrnd/reactor/reactor.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/reactor/reactor_mesh.h"
#include "reactor_impl.h"

namespace etrnd::reactor {
namespace {

constexpr uint16_t kReceiveBufferGroup = 1;
constexpr int kListenBacklog = 4096;

}  // namespace

// For SQEs whose completion needs no handling (cancels, link timeouts).
Operation& IgnoredCompletion() {
  static Operation ignored{OpKind::kPollRemove, nullptr, {}, {}, 0, {}};
  return ignored;
}

int OnlineCpuCount() {
  long count = sysconf(_SC_NPROCESSORS_ONLN);
  return count > 0 ? static_cast<int>(count) : 1;
}

io_uring_sqe* Reactor::Impl::GetSqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) {
    // The submission queue is full: hand it to the kernel and retry.
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  return sqe;
}

absl::StatusOr<std::unique_ptr<Reactor>> Reactor::Create(int index, const ReactorOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  ETRND_CHECK(options.background_held_max >= 1);
  impl->pacing = BackgroundPacing(kTurnBudget, options.background_busy_share_percent);
  impl->owner_thread = std::this_thread::get_id();
  io_uring_params params;
  std::memset(&params, 0, sizeof(params));
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int result = io_uring_queue_init_params(options.ring_entries, &impl->ring, &params);
  if (result < 0) {
    ETRND_LOG_WARNING("io_uring SINGLE_ISSUER|DEFER_TASKRUN unavailable (%s); using COOP_TASKRUN",
                      ErrnoText(-result));
    std::memset(&params, 0, sizeof(params));
    params.flags = IORING_SETUP_COOP_TASKRUN;
    result = io_uring_queue_init_params(options.ring_entries, &impl->ring, &params);
  }
  if (result < 0) {
    std::memset(&params, 0, sizeof(params));
    result = io_uring_queue_init_params(options.ring_entries, &impl->ring, &params);
  }
  if (result < 0) {
    return absl::UnavailableError("io_uring_queue_init: " + ErrnoText(-result));
  }
  impl->ring_ready = true;
  auto buffers = ProvidedBuffers::Create(&impl->ring, kReceiveBufferGroup,
                                         options.recv_buffer_count, options.recv_buffer_bytes);
  if (!buffers.ok()) return buffers.status();
  impl->buffers = *buffers;

  impl->wake_fd = eventfd(0, EFD_CLOEXEC);
  if (impl->wake_fd < 0) return absl::UnavailableError("eventfd: " + ErrnoText(errno));
  std::unique_ptr<Reactor> reactor(new Reactor(index, std::move(impl)));
  reactor->ArmWake();
  return reactor;
}

Reactor::Reactor(int index, std::unique_ptr<Impl> impl) : index_(index), impl_(std::move(impl)) {}

Reactor::~Reactor() {
  for (auto& listener : impl_->listeners) {
    if (listener->fd >= 0) close(listener->fd);
  }
  for (auto& [id, connection] : impl_->connections) {
    if (connection->fd_ >= 0) close(connection->fd_);
  }
  impl_->connections.clear();
  delete impl_->buffers;
  if (impl_->wake_fd >= 0) close(impl_->wake_fd);
  if (impl_->ring_ready) io_uring_queue_exit(&impl_->ring);
}

void Reactor::ArmWake() {
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_read(sqe, impl_->wake_fd, &impl_->wake_value, sizeof(impl_->wake_value), 0);
  io_uring_sqe_set_data(sqe, &impl_->wake_op);
}

absl::Status Reactor::Listen(const SocketAddress& addr, HandlerFactory factory) {
  sockaddr_storage storage;
  socklen_t length = addr.ToSockaddr(&storage);
  int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError("socket: " + ErrnoText(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (storage.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    int error = errno;
    close(fd);
    return absl::UnavailableError("cannot listen on " + addr.ToString() + ": " + ErrnoText(error));
  }
  if (listen(fd, kListenBacklog) != 0) {
    int error = errno;
    close(fd);
    return absl::UnavailableError("listen on " + addr.ToString() + ": " + ErrnoText(error));
  }
  return StartListener(fd, addr, "", std::move(factory));
}

absl::Status Reactor::StartListener(int fd, const SocketAddress& addr, std::string path,
                                    HandlerFactory factory) {
  ETRND_CHECK(fd >= 0);
  auto listener = std::make_unique<Listener>();
  listener->fd = fd;
  listener->address = addr;
  listener->path = std::move(path);
  listener->factory = std::move(factory);
  listener->accept_op.owner = listener.get();
  ArmAccept(*listener);
  impl_->listeners.push_back(std::move(listener));
  return absl::OkStatus();
}

absl::Status Reactor::ListenPath(const std::string& path, mode_t mode, HandlerFactory factory) {
  sockaddr_un address;
  std::memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError("Unix socket path empty or over " +
                                      std::to_string(sizeof(address.sun_path) - 1) +
                                      " bytes: " + path);
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError("socket: " + ErrnoText(errno));
  // A socket file left by a crashed predecessor would make bind fail.
  struct stat info;
  if (lstat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode)) unlink(path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    int error = errno;
    close(fd);
    return absl::UnavailableError("cannot listen on " + path + ": " + ErrnoText(error));
  }
  // Before listen(): nobody can connect while the file still has umask bits.
  if (chmod(path.c_str(), mode) != 0 || listen(fd, kListenBacklog) != 0) {
    int error = errno;
    close(fd);
    unlink(path.c_str());
    return absl::UnavailableError("listen on " + path + ": " + ErrnoText(error));
  }
  return StartListener(fd, SocketAddress(), path, std::move(factory));
}

void Reactor::ArmAccept(Listener& listener) {
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_multishot_accept(sqe, listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data(sqe, &listener.accept_op);
  listener.armed = true;
}

Reactor::TimerId Reactor::RunAfter(absl::Duration delay, std::function<void()> fn) {
  TimerId id = impl_->next_timer_id++;
  absl::Time deadline = absl::Now() + delay;
  impl_->timers.emplace(std::make_pair(deadline, id), std::move(fn));
  impl_->timer_deadline.emplace(id, deadline);
  return id;
}

void Reactor::CancelTimer(TimerId id) {
  auto it = impl_->timer_deadline.find(id);
  if (it == impl_->timer_deadline.end()) return;
  impl_->timers.erase(std::make_pair(it->second, id));
  impl_->timer_deadline.erase(it);
}

// Due timers run in deadline order, but only within the turn's budget: the
// rest wait for the next turn (the ring wait does not block meanwhile), so a
// burst of timers cannot starve the sockets.
void Reactor::RunDueTimers(absl::Time stop_at) {
  const absl::Time now = absl::Now();
  absl::Time started = now;
  while (!impl_->timers.empty() && impl_->timers.begin()->first.first <= now) {
    auto node = impl_->timers.extract(impl_->timers.begin());
    impl_->timer_deadline.erase(node.key().second);
    node.mapped()();
    const absl::Time ended = absl::Now();
    impl_->turn.timers.Add(ended - started);
    started = ended;
    if (ended >= stop_at) break;
  }
}

void Reactor::AddLoopEndHook(std::function<void()> fn) {
  impl_->loop_end_hooks.push_back(std::move(fn));
}

void Reactor::SetTurnObserver(std::function<void(const TurnProfile&)> fn, TurnDetail detail) {
  impl_->turn_observer = std::move(fn);
  impl_->turn_detail = detail;
}

const char* OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kAccept:
      return "accept";
    case OpKind::kRecv:
      return "recv";
    case OpKind::kSend:
      return "send";
    case OpKind::kConnect:
      return "connect";
    case OpKind::kCancel:
      return "cancel";
    case OpKind::kWake:
      return "wake";
    case OpKind::kFile:
      return "file";
    case OpKind::kPoll:
      return "poll";
    case OpKind::kPollRemove:
      return "poll remove";
    case OpKind::kCrossCoreWake:
      return "cross-core wake";
    case OpKind::kMsgRingSent:
      return "msg ring sent";
  }
  return "unknown";
}

void Reactor::Dispatch(uint64_t user_data, int32_t res, uint32_t flags) {
  auto* op = reinterpret_cast<Operation*>(static_cast<uintptr_t>(user_data));
  if (op == nullptr) return;
  switch (op->kind) {
    case OpKind::kAccept:
      HandleAccept(*static_cast<Listener*>(op->owner), res, (flags & IORING_CQE_F_MORE) != 0);
      break;
    case OpKind::kRecv:
      HandleRecv(*static_cast<Connection*>(op->owner), res, flags);
      break;
    case OpKind::kSend:
      HandleSend(*static_cast<Connection*>(op->owner), res);
      break;
    case OpKind::kConnect:
      HandleConnect(*static_cast<Connection*>(op->owner), res);
      break;
    case OpKind::kCancel: {
      auto* connection = static_cast<Connection*>(op->owner);
      connection->inflight_ops_--;
      ScheduleTeardownCheck(*connection);
      break;
    }
    case OpKind::kWake:
      ArmWake();
      impl_->wake_seen = true;        // RunPosted() runs once, at the turn's end
      impl_->cross_core_seen = true;  // the eventfd also stands in for MSG_RING
      break;
    case OpKind::kPoll: {
      impl_->polls.erase(op->poll_id);
      std::function<void(int)> done = std::move(op->file_done);
      delete op;
      if (done) done(res);
      break;
    }
    case OpKind::kPollRemove:
      break;
    case OpKind::kCrossCoreWake:
      impl_->cross_core_seen = true;  // drained once, at the turn's end
      break;
    case OpKind::kMsgRingSent:
      if (res < 0) {
        // No MSG_RING (old kernel, seccomp): wake through the eventfd.
        if (!impl_->msg_ring_failed_logged) {
          impl_->msg_ring_failed_logged = true;
          ETRND_LOG_WARNING("IORING_OP_MSG_RING failed (%s); cross-core wakes use the eventfd",
                            ErrnoText(-res));
        }
        auto* target = static_cast<Reactor*>(op->owner);
        uint64_t one = 1;
        [[maybe_unused]] ssize_t n = write(target->impl_->wake_fd, &one, sizeof(one));
      }
      break;
    case OpKind::kFile: {
      impl_->file_ops_in_flight--;
      std::function<void(int)> done = std::move(op->file_done);
      delete op;
      if (done) done(res);
      break;
    }
  }
}

namespace {

// This thread's CPU time: a turn much longer than it was preempted (with
// two vCPUs shared by etrnd, the next hop and the clients, it happens).
absl::Duration ThreadCpuTime() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return absl::DurationFromTimespec(now);
}

// This thread's context switches so far: involuntary (preempted) and
// voluntary (it slept in the kernel: a blocking call or a page fault's I/O).
std::pair<int64_t, int64_t> ThreadSwitches() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return {usage.ru_nivcsw, usage.ru_nvcsw};
}

// After one dispatched completion: whether the phase's time is up. With a
// turn observer every item reads the clock (the profile's time per kind);
// without, every kCompletionsPerClockRead items.
bool PhaseTimeUp(bool profiling, TurnPhase& phase, const char* kind, unsigned handled,
                 absl::Time& item_started, absl::Time stop_at) {
  if (profiling) {
    const absl::Time ended = absl::Now();
    phase.Add(ended - item_started, kind);
    item_started = ended;
    return ended >= stop_at;
  }
  return handled % kCompletionsPerClockRead == 0 && absl::Now() >= stop_at;
}

}  // namespace

bool Reactor::IsBackground(const Operation* op) const {
  if (op == nullptr) return false;
  switch (op->kind) {
    case OpKind::kRecv:
    case OpKind::kSend:
    case OpKind::kCancel:
    case OpKind::kConnect:
      return static_cast<const Connection*>(op->owner)->background();
    case OpKind::kFile:
      return op->background;
    default:
      return false;  // accepts, wakes, polls, cross-core: foreground
  }
}

void Reactor::SubmitNow() {
  FlushSends();
  if (io_uring_sq_ready(&impl_->ring) > 0) io_uring_submit(&impl_->ring);  // no empty enter
}

const char* Reactor::DispatchOldestHeld(bool profiling) {
  const DeferredCompletion completion = impl_->background.front();
  impl_->background.pop_front();
  const auto* op = reinterpret_cast<const Operation*>(static_cast<uintptr_t>(completion.user_data));
  const char* kind = profiling ? OpKindName(op->kind) : "";
  Dispatch(completion.user_data, completion.res, completion.flags);
  return kind;
}

void Reactor::RunBackground(bool profiling) {
  if (impl_->background.empty()) return;
  absl::Time started = absl::Now();
  if (!impl_->pacing.MayRun(started)) return;  // resting: clients first
  // This turn's replies to clients leave before the slice, and are not
  // charged to it.
  SubmitNow();
  started = absl::Now();
  const absl::Time slice_started = started;
  const absl::Time stop_at = impl_->pacing.SliceEnd(started);
  impl_->dispatching_background = true;
  unsigned handled = 0;
  while (!impl_->background.empty()) {
    const char* kind = DispatchOldestHeld(profiling);
    ++handled;
    if (PhaseTimeUp(profiling, impl_->turn.background, kind, handled, started, stop_at)) break;
  }
  impl_->dispatching_background = false;
  // The slice's sends (and spool reads) are issued inside its charge: on
  // loopback the kernel's send path is most of a delivery's CPU.
  SubmitNow();
  impl_->pacing.Ran(slice_started, absl::Now());
}

void Reactor::RunOldestBackground(bool profiling) {
  const absl::Time started = absl::Now();
  impl_->dispatching_background = true;
  const char* kind = DispatchOldestHeld(profiling);
  impl_->dispatching_background = false;
  const absl::Time ended = absl::Now();
  impl_->turn.background.Add(ended - started, kind);
  impl_->pacing.Ran(started, ended);
}

void Reactor::Run() {
  absl::Time turn_started = absl::InfinitePast();  // none yet: the first wait
  absl::Duration turn_cpu_started;
  std::pair<int64_t, int64_t> turn_switches_started;
  const bool observing = static_cast<bool>(impl_->turn_observer);
  const bool profiling = observing && impl_->turn_detail == TurnDetail::kFull;
  while (true) {
    const absl::Time teardown_started = profiling ? absl::Now() : absl::InfinitePast();
    RunTeardownChecks();
    const absl::Time hooks_started = profiling ? absl::Now() : absl::InfinitePast();
    for (auto& hook : impl_->loop_end_hooks) hook();
    const absl::Time sends_started = profiling ? absl::Now() : absl::InfinitePast();
    FlushSends();
    FlushCrossCore();
    if (observing && turn_started != absl::InfinitePast()) {
      const absl::Time ended = absl::Now();
      impl_->turn.total = ended - turn_started;
      if (profiling) {
        impl_->turn.teardowns = hooks_started - teardown_started;
        impl_->turn.loop_end_hooks = sends_started - hooks_started;
        impl_->turn.sends = ended - sends_started;
        impl_->turn.cpu = ThreadCpuTime() - turn_cpu_started;
        const auto [preempted, slept] = ThreadSwitches();
        impl_->turn.preempted = preempted - turn_switches_started.first;
        impl_->turn.slept = slept - turn_switches_started.second;
      }
      impl_->turn_observer(impl_->turn);
    }
    impl_->turn = TurnProfile{};
    if (impl_->stopping && impl_->connections.empty() && impl_->file_ops_in_flight == 0 &&
        impl_->posted_ready.empty() && impl_->posted_local.empty() && impl_->background.empty()) {
      break;
    }

    __kernel_timespec wait{};
    __kernel_timespec* wait_ptr = nullptr;
    if (!impl_->posted_ready.empty() || !impl_->posted_local.empty() || impl_->cross_core_seen ||
        impl_->cross_core_left) {
      // Work left over from the last turn's budget: poll, do not sleep.
      wait_ptr = &wait;
    } else if (!impl_->timers.empty() || impl_->overflow_tasks > 0 || !impl_->background.empty()) {
      const absl::Time now = absl::Now();
      absl::Duration left = impl_->timers.empty() ? absl::InfiniteDuration()
                                                  : impl_->timers.begin()->first.first - now;
      if (impl_->overflow_tasks > 0) left = std::min(left, kCrossCoreOverflowRetry);
      // Held background work resumes when its share allows (at once if no
      // client is active); a client's data wakes the ring before that.
      if (!impl_->background.empty()) left = std::min(left, impl_->pacing.WaitBeforeNext(now));
      if (left < absl::ZeroDuration()) left = absl::ZeroDuration();
      const timespec spec = absl::ToTimespec(left);
      wait = __kernel_timespec{spec.tv_sec, spec.tv_nsec};
      wait_ptr = &wait;
    }
    io_uring_cqe* cqe = nullptr;
    int result = io_uring_submit_and_wait_timeout(&impl_->ring, &cqe, 1, wait_ptr, nullptr);
    if (observing) turn_started = absl::Now();
    if (profiling) {
      turn_cpu_started = ThreadCpuTime();
      turn_switches_started = ThreadSwitches();
    }
    if (result == -EEXIST) {
      // IORING_SETUP_SINGLE_ISSUER: only the thread that created the ring
      // may use it. A programming error; spinning on it helps nobody.
      // Written directly: a queued log line would die with the process.
      std::fprintf(stderr,
                   "etrnd: reactor %d used from a thread other than the one that created it\n",
                   index_);
      std::abort();
    }
    if (result < 0 && result != -ETIME && result != -EINTR && result != -EAGAIN &&
        result != -EBUSY) {
      ETRND_LOG_ERROR("io_uring wait failed: %s", ErrnoText(-result));
    }
    unsigned head;
    unsigned seen = 0;     // taken from the ring
    unsigned handled = 0;  // of those, dispatched now (the rest are background)
    absl::Time dispatch_started = observing ? turn_started : absl::Now();
    const absl::Time stop_at = dispatch_started + kTurnBudget;
    io_uring_for_each_cqe(&impl_->ring, head, cqe) {
      // Read before Dispatch: a file op is freed by its completion.
      auto* op = static_cast<const Operation*>(io_uring_cqe_get_data(cqe));
      if (IsBackground(op)) {
        // Kept in ring order. Only the user data is kept: running the
        // oldest may end this op's connection, which then waits for it.
        const DeferredCompletion completion{cqe->user_data, cqe->res, cqe->flags};
        ++seen;
        if (impl_->background.size() >= impl_->options.background_held_max) {
          RunOldestBackground(profiling);
        }
        impl_->background.push_back(completion);
        continue;
      }
      if (op != nullptr && (op->kind == OpKind::kRecv || op->kind == OpKind::kAccept)) {
        impl_->pacing.ClientSeen(dispatch_started);
      }
      const char* kind = op == nullptr ? "ignored" : OpKindName(op->kind);
      Dispatch(cqe->user_data, cqe->res, cqe->flags);
      ++seen;
      ++handled;
      if (PhaseTimeUp(profiling, impl_->turn.completions, kind, handled, dispatch_started,
                      stop_at)) {
        break;  // the rest stay in the completion queue for the next turn
      }
    }
    io_uring_cq_advance(&impl_->ring, seen);
    RunDueTimers(stop_at);
    if (impl_->wake_seen || !impl_->posted_ready.empty() || !impl_->posted_local.empty() ||
        impl_->cross_core_seen || impl_->cross_core_left) {
      impl_->wake_seen = false;
      RunPosted(stop_at);
    }
    RunBackground(profiling);
  }
}

void Reactor::Stop() {
  Post([this] {
    StopAccepting();
    impl_->stopping = true;
  });
}

void Reactor::StopAccepting() {
  impl_->accepting = false;
  for (auto& listener : impl_->listeners) {
    if (listener->fd >= 0) {
      // Closing the socket ends the multishot accept; the kernel owns the
      // pending SQE's reference, so shut it down first.
      shutdown(listener->fd, SHUT_RDWR);
      close(listener->fd);
      listener->fd = -1;
    }
  }
}

std::vector<SocketAddress> Reactor::ListeningAddresses() const {
  std::vector<SocketAddress> addresses;
  for (const auto& listener : impl_->listeners) {
    if (listener->fd < 0 || !listener->path.empty()) continue;
    sockaddr_storage storage;
    socklen_t length = sizeof(storage);
    if (getsockname(listener->fd, reinterpret_cast<sockaddr*>(&storage), &length) == 0) {
      addresses.push_back(SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage)));
    }
  }
  return addresses;
}

size_t Reactor::connection_count() const { return impl_->connections.size(); }

void Reactor::ForEachConnection(const std::function<void(Connection&)>& fn) {
  std::vector<uint64_t> ids;
  ids.reserve(impl_->connections.size());
  for (auto& [id, connection] : impl_->connections) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = impl_->connections.find(id);
    if (it != impl_->connections.end()) fn(*it->second);
  }
}

}  // namespace etrnd::reactor
