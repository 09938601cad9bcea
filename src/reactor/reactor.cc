#include "etrnd/reactor/reactor.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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
// Posted work and due timers each run at most this long per loop turn.
constexpr absl::Duration kTurnBudget = absl::Milliseconds(2);
// The kernel's opcode number (include/uapi/linux/io_uring.h, Linux 6.9).
constexpr int kOpFtruncate = 55;
constexpr int kListenBacklog = 4096;
// While a sender holds tasks in an overflow list it waits at most this long
// in the ring, then retries: the receiver does not tell it when slots free.
constexpr absl::Duration kCrossCoreOverflowRetry = absl::Microseconds(200);

std::string ErrnoText(int error) { return std::strerror(error); }

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

Connection* Reactor::AddConnection(int fd, const SocketAddress& peer, const SocketAddress& local,
                                   std::unique_ptr<ConnectionHandler> handler) {
  uint64_t id = impl_->next_connection_id++;
  auto connection = std::make_unique<Connection>(*this, fd, id, peer, local, std::move(handler));
  Connection* raw = connection.get();
  auto ops = std::make_unique<ConnectionOps>();
  ops->recv.owner = raw;
  ops->send.owner = raw;
  ops->connect.owner = raw;
  ops->cancel.owner = raw;
  impl_->ops.emplace(raw, std::move(ops));
  impl_->connections.emplace(id, std::move(connection));
  return raw;
}

void Reactor::HandleAccept(Listener& listener, int result, bool more) {
  if (!more) listener.armed = false;
  if (result >= 0) {
    int fd = result;
    sockaddr_storage peer_storage;
    socklen_t peer_length = sizeof(peer_storage);
    sockaddr_storage local_storage;
    socklen_t local_length = sizeof(local_storage);
    getpeername(fd, reinterpret_cast<sockaddr*>(&peer_storage), &peer_length);
    getsockname(fd, reinterpret_cast<sockaddr*>(&local_storage), &local_length);
    int one = 1;
    if (listener.path.empty()) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (impl_->options.accepted_send_buffer_bytes > 0) {
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &impl_->options.accepted_send_buffer_bytes,
                 sizeof(impl_->options.accepted_send_buffer_bytes));
    }
    SocketAddress peer = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&peer_storage));
    SocketAddress local = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&local_storage));
    if (!impl_->accepting) {
      close(fd);
    } else {
      std::unique_ptr<ConnectionHandler> handler = listener.factory(*this, peer, local);
      Connection* connection = AddConnection(fd, peer, local, std::move(handler));
      connection->open_ = true;
      connection->multishot_recv_ = impl_->options.accepted_multishot_recv;
      ArmRecv(*connection);
      connection->handler_->OnOpen(*connection);
      ScheduleTeardownCheck(*connection);
    }
  } else if (result != -ECANCELED && impl_->accepting) {
    // EMFILE/ENFILE and friends: log and keep accepting later; summarised,
    // as it repeats on every accept until a descriptor is freed.
    std::string address = listener.address.ToString();
    ETRND_LOG_WARNING_REPEATED("accept failed", address, "accept on %s failed: %s", address,
                               ErrnoText(-result));
  }
  if (!listener.armed && impl_->accepting && listener.fd >= 0) ArmAccept(listener);
}

void Reactor::Connect(const SocketAddress& addr, std::unique_ptr<ConnectionHandler> handler,
                      absl::Duration timeout) {
  sockaddr_storage storage;
  socklen_t length = addr.ToSockaddr(&storage);
  int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  Connection* connection = AddConnection(fd, addr, SocketAddress(), std::move(handler));
  if (fd < 0) {
    connection->closed_ = true;
    connection->close_error_ = -errno;
    ScheduleTeardownCheck(*connection);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ConnectionOps& ops = *impl_->ops[connection];
  ops.connect_addr = storage;
  // Both SQEs must be in the same submission for the link to hold.
  if (io_uring_sq_space_left(&impl_->ring) < 2) io_uring_submit(&impl_->ring);
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_connect(sqe, fd, reinterpret_cast<sockaddr*>(&ops.connect_addr), length);
  io_uring_sqe_set_data(sqe, &ops.connect);
  sqe->flags |= IOSQE_IO_LINK;
  // A peer that drops SYNs must not hold the connect for the kernel's
  // minutes-long retry schedule.
  timespec limit = absl::ToTimespec(timeout);
  ops.connect_timeout = __kernel_timespec{limit.tv_sec, limit.tv_nsec};
  io_uring_sqe* timeout_sqe = impl_->GetSqe();
  io_uring_prep_link_timeout(timeout_sqe, &ops.connect_timeout, 0);
  io_uring_sqe_set_data(timeout_sqe, &IgnoredCompletion());
  connection->inflight_ops_++;
}

void Reactor::HandleConnect(Connection& connection, int result) {
  connection.inflight_ops_--;
  if (result == -ECANCELED) result = -ETIMEDOUT;  // the linked timeout fired
  if (result < 0) {
    connection.closed_ = true;
    connection.close_error_ = result;
  } else if (!connection.closed_) {
    sockaddr_storage local_storage;
    socklen_t local_length = sizeof(local_storage);
    getsockname(connection.fd_, reinterpret_cast<sockaddr*>(&local_storage), &local_length);
    connection.local_ = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&local_storage));
    connection.open_ = true;
    ArmRecv(connection);
    connection.handler_->OnOpen(connection);
  }
  ScheduleTeardownCheck(connection);
}

void Reactor::ArmRecv(Connection& connection) {
  io_uring_sqe* sqe = impl_->GetSqe();
  if (connection.multishot_recv_) {
    io_uring_prep_recv_multishot(sqe, connection.fd_, nullptr, 0, 0);
  } else {
    io_uring_prep_recv(sqe, connection.fd_, nullptr, impl_->options.recv_buffer_bytes, 0);
  }
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = impl_->buffers->group_id();
  io_uring_sqe_set_data(sqe, &impl_->ops[&connection]->recv);
  connection.recv_armed_ = true;
  connection.inflight_ops_++;
}

void Reactor::HandleRecv(Connection& connection, int result, uint32_t flags) {
  bool more = (flags & IORING_CQE_F_MORE) != 0;
  if (result > 0 && (flags & IORING_CQE_F_BUFFER) != 0) {
    uint16_t buffer_id = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    if (!connection.closing_ && !connection.closed_) {
      connection.handler_->OnReceive(
          connection, impl_->buffers->View(buffer_id, static_cast<unsigned>(result)));
    }
    impl_->buffers->Recycle(buffer_id);
  }
  if (!more) {
    connection.recv_armed_ = false;
    connection.inflight_ops_--;
    if (result == 0) {
      // Orderly EOF from the peer.
      connection.closed_ = true;
    } else if (result == -ENOBUFS || result == -ECANCELED || result > 0) {
      // Out of provided buffers, the kernel ended the multishot, or a pause's
      // cancel that a resume overtook: rearm unless paused or closing.
      connection.pause_cancel_sent_ = false;
      if (!connection.closed_ && !connection.closing_ && !connection.receive_paused_) {
        ArmRecv(connection);
      }
    } else if (result < 0) {
      connection.closed_ = true;
      if (connection.close_error_ == 0) connection.close_error_ = result;
    }
  }
  ScheduleTeardownCheck(connection);
}

void Reactor::SubmitSend(Connection& connection) {
  ConnectionOps& ops = *impl_->ops[&connection];
  int pieces = 0;
  size_t skip = connection.output_offset_;
  for (auto& chunk : connection.output_) {
    if (pieces == ConnectionOps::kMaxSendPieces) break;
    ops.send_iov[pieces].iov_base = chunk.data() + skip;
    ops.send_iov[pieces].iov_len = chunk.size() - skip;
    skip = 0;
    ++pieces;
  }
  std::memset(&ops.send_msg, 0, sizeof(ops.send_msg));
  ops.send_msg.msg_iov = ops.send_iov;
  ops.send_msg.msg_iovlen = static_cast<size_t>(pieces);
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_sendmsg(sqe, connection.fd_, &ops.send_msg, MSG_NOSIGNAL);
  io_uring_sqe_set_data(sqe, &ops.send);
  connection.send_in_flight_ = true;
  connection.inflight_ops_++;
}

void Reactor::HandleSend(Connection& connection, int result) {
  ETRND_CHECK(connection.send_in_flight_);
  ETRND_CHECK(connection.inflight_ops_ > 0);
  connection.send_in_flight_ = false;
  connection.inflight_ops_--;
  if (connection.aborted_) {
    // Abort() kept the bytes this send pointed into; they can go now.
    connection.output_.clear();
    connection.output_offset_ = 0;
    connection.pending_bytes_ = 0;
  } else if (result < 0) {
    connection.closed_ = true;
    if (connection.close_error_ == 0) connection.close_error_ = result;
    connection.output_.clear();
    connection.pending_bytes_ = 0;
  } else {
    size_t written = static_cast<size_t>(result);
    ETRND_CHECK(written <= connection.pending_bytes_);
    connection.pending_bytes_ -= written;
    while (written > 0) {
      std::string& front = connection.output_.front();
      size_t left = front.size() - connection.output_offset_;
      if (written >= left) {
        written -= left;
        connection.output_.pop_front();
        connection.output_offset_ = 0;
      } else {
        connection.output_offset_ += written;
        written = 0;
      }
    }
    if (!connection.output_.empty()) {
      if (!connection.closed_) SubmitSend(connection);  // partial write: continue
    } else if (!connection.closed_) {
      connection.handler_->OnSendDrained(connection);
    }
  }
  ScheduleTeardownCheck(connection);
}

void Reactor::ScheduleTeardownCheck(Connection& connection) {
  impl_->maybe_done.push_back(connection.id_);
}

// Closing order: stop reading (cancel the multishot recv), let in-flight
// sends finish (or cancel them on an abort), then close the fd and tell the
// handler. An abort resets the connection (SO_LINGER 0) so that a peer that
// never reads does not keep megabytes queued in the kernel.
void Reactor::AdvanceTeardown(Connection& connection) {
  if (connection.fd_ < 0 && connection.inflight_ops_ == 0) {
    FinishConnection(connection);
    return;
  }
  bool output_done = connection.output_.empty() && !connection.send_in_flight_;
  bool want_close = connection.closed_ || (connection.closing_ && output_done);
  if (!want_close) return;
  connection.closed_ = true;
  if (!connection.shut_down_ && connection.fd_ >= 0) {
    connection.shut_down_ = true;
    if (connection.aborted_ || !output_done) {
      linger reset{1, 0};
      setsockopt(connection.fd_, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
      shutdown(connection.fd_, SHUT_RDWR);
    } else {
      shutdown(connection.fd_, SHUT_WR);
    }
  }
  ConnectionOps& ops = *impl_->ops[&connection];
  if (connection.recv_armed_ && !connection.cancel_sent_) {
    io_uring_sqe* sqe = impl_->GetSqe();
    io_uring_prep_cancel(sqe, &ops.recv, 0);
    io_uring_sqe_set_data(sqe, &ops.cancel);
    connection.cancel_sent_ = true;
    connection.inflight_ops_++;
  }
  if (connection.send_in_flight_ && !connection.send_cancel_sent_) {
    // The send's own completion (-ECANCELED or a partial count) is what the
    // connection waits for; the cancel's completion needs no handling.
    io_uring_sqe* sqe = impl_->GetSqe();
    io_uring_prep_cancel(sqe, &ops.send, 0);
    io_uring_sqe_set_data(sqe, &IgnoredCompletion());
    connection.send_cancel_sent_ = true;
  }
  if (connection.inflight_ops_ == 0) FinishConnection(connection);
}

void Reactor::ArmCloseDrainDeadline(Connection& connection) {
  if (connection.drain_timer_ != 0 || connection.closed_) return;
  const uint64_t id = connection.id_;
  connection.drain_timer_ = RunAfter(impl_->options.close_drain_timeout, [this, id] {
    auto it = impl_->connections.find(id);
    if (it == impl_->connections.end()) return;
    Connection& late = *it->second;
    late.drain_timer_ = 0;
    if (late.finished_) return;
    ETRND_LOG_INFO("connection %d from %s: peer did not take its last %d bytes within %s; reset",
                   id, late.peer_.ToString(), late.pending_bytes_,
                   absl::FormatDuration(impl_->options.close_drain_timeout));
    late.Abort();
  });
}

void Reactor::CancelReceiveForPause(Connection& connection) {
  if (!connection.recv_armed_ || connection.pause_cancel_sent_ || connection.closed_) return;
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_cancel(sqe, &impl_->ops[&connection]->recv, 0);
  io_uring_sqe_set_data(sqe, &IgnoredCompletion());
  connection.pause_cancel_sent_ = true;
}

void Reactor::RearmReceiveAfterPause(Connection& connection) {
  // With the pause's cancel still in flight, its -ECANCELED rearms instead.
  if (connection.recv_armed_ || !connection.open_ || connection.closed_ || connection.closing_) {
    return;
  }
  ArmRecv(connection);
}

void Reactor::FinishConnection(Connection& connection) {
  if (connection.finished_) return;
  ETRND_CHECK(connection.inflight_ops_ == 0);
  connection.finished_ = true;
  if (connection.drain_timer_ != 0) CancelTimer(connection.drain_timer_);
  if (connection.fd_ >= 0) {
    close(connection.fd_);
    connection.fd_ = -1;
  }
  uint64_t id = connection.id_;
  connection.handler_->OnClosed(connection, connection.close_error_);
  impl_->ops.erase(&connection);
  impl_->connections.erase(id);  // destroys the connection and its handler
}

void Reactor::RunTeardownChecks() {
  // By id: a check may tear down connections that are later in the list.
  while (!impl_->maybe_done.empty()) {
    std::vector<uint64_t> ids;
    ids.swap(impl_->maybe_done);
    for (uint64_t id : ids) {
      auto it = impl_->connections.find(id);
      if (it != impl_->connections.end()) AdvanceTeardown(*it->second);
    }
  }
}

void Reactor::FlushSends() {
  // By id: a connection that queued bytes may have been torn down since.
  std::vector<uint64_t> pending;
  pending.swap(impl_->send_pending);
  for (uint64_t id : pending) {
    auto it = impl_->connections.find(id);
    if (it == impl_->connections.end()) continue;
    Connection* connection = it->second.get();
    connection->send_scheduled_ = false;
    if (!connection->closed_ && !connection->send_in_flight_ && !connection->output_.empty()) {
      SubmitSend(*connection);
    }
  }
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

// Due timers run in deadline order, but only for kTurnBudget per loop turn:
// the rest wait for the next turn (the ring wait does not block meanwhile),
// so a burst of timers cannot starve the sockets.
void Reactor::RunDueTimers() {
  const absl::Time now = absl::Now();
  const absl::Time stop_at = now + kTurnBudget;
  while (!impl_->timers.empty() && impl_->timers.begin()->first.first <= now) {
    auto node = impl_->timers.extract(impl_->timers.begin());
    impl_->timer_deadline.erase(node.key().second);
    node.mapped()();
    if (absl::Now() >= stop_at) break;
  }
}

bool Reactor::OnOwnThread() const { return std::this_thread::get_id() == impl_->owner_thread; }

void Reactor::Post(std::function<void()> fn) {
  if (OnOwnThread()) {
    impl_->posted_local.push_back(std::move(fn));
    return;
  }
  // The wake is written under the lock: the reactor cannot run the task (a
  // Stop(), say), return from Run() and close the eventfd before the write
  // is done. Only threads outside the reactors come here; not a request path.
  std::lock_guard<std::mutex> lock(impl_->posted_mutex);
  impl_->posted.push_back(std::move(fn));
  if (!impl_->wake_pending) {
    impl_->wake_pending = true;
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(impl_->wake_fd, &one, sizeof(one));
  }
}

void Reactor::JoinMesh(ReactorMesh& mesh) {
  ETRND_CHECK(OnOwnThread());
  ETRND_CHECK(impl_->mesh == nullptr);
  ETRND_CHECK(index_ >= 0 && static_cast<size_t>(index_) < mesh.size());
  ETRND_CHECK(mesh.member(index_) == nullptr);
  impl_->mesh = &mesh;
  impl_->msg_ring_ops.clear();
  for (size_t i = 0; i < mesh.size(); ++i) {
    impl_->msg_ring_ops.push_back(
        std::make_unique<Operation>(Operation{OpKind::kMsgRingSent, nullptr, {}, {}, 0, {}}));
  }
  mesh.members_[index_].store(this, std::memory_order_release);
}

void Reactor::PostTo(Reactor& target, std::function<void()> fn) {
  // Single producer per pair: only this reactor's thread pushes into its row.
  ETRND_CHECK(OnOwnThread());
  if (&target == this) {
    impl_->posted_local.push_back(std::move(fn));
    return;
  }
  ReactorMesh* mesh = impl_->mesh;
  ETRND_CHECK(mesh != nullptr && target.impl_->mesh == mesh);
  ETRND_CHECK(mesh->member(target.index_) == &target);
  CrossCorePair& pair = mesh->pair(index_, target.index_);
  // Behind an overflow list, a new task waits its turn: order is kept.
  if (pair.overflow.empty() && pair.queue.TryPush(fn)) {
    pair.pushed_since_wake = true;
  } else {
    pair.overflow.push_back(std::move(fn));
    impl_->overflow_tasks++;
  }
  if (!pair.listed) {
    pair.listed = true;
    impl_->cross_core_dirty.push_back(target.index_);
  }
}

// Loop end, sender side: move what overflowed into the queues as far as they
// have room, then wake each receiver that got tasks, at most one MSG_RING per
// receiver per turn.
void Reactor::FlushCrossCore() {
  if (impl_->cross_core_dirty.empty()) return;
  std::vector<size_t> dirty;
  dirty.swap(impl_->cross_core_dirty);
  ReactorMesh& mesh = *impl_->mesh;
  for (size_t receiver : dirty) {
    CrossCorePair& pair = mesh.pair(index_, receiver);
    ETRND_CHECK(pair.listed);
    while (!pair.overflow.empty() && pair.queue.TryPush(pair.overflow.front())) {
      pair.overflow.pop_front();
      impl_->overflow_tasks--;
      pair.pushed_since_wake = true;
    }
    if (pair.pushed_since_wake) {
      pair.pushed_since_wake = false;
      // acq_rel: the receiver's exchange(false) that reads this true also
      // sees every task pushed before it.
      if (!pair.receiver_notified.exchange(true, std::memory_order_acq_rel)) {
        SendCrossCoreWake(*mesh.member(receiver));
      }
    }
    if (pair.overflow.empty()) {
      pair.listed = false;
    } else {
      impl_->cross_core_dirty.push_back(receiver);
    }
  }
}

void Reactor::SendCrossCoreWake(Reactor& target) {
  io_uring_sqe* sqe = impl_->GetSqe();
  // The CQE lands on target's ring with target's wake op as its user_data;
  // this ring gets its own CQE (kMsgRingSent) saying whether it was sent.
  io_uring_prep_msg_ring(sqe, target.impl_->ring.ring_fd, 0,
                         reinterpret_cast<uint64_t>(&target.impl_->cross_core_wake_op), 0);
  Operation& sent = *impl_->msg_ring_ops[target.index_];
  sent.owner = &target;
  io_uring_sqe_set_data(sqe, &sent);
}

// Receiver side: runs tasks from every inbound pair queue, senders in
// rotation, until the queues are empty or stop_at passes. Returns whether
// tasks are left.
bool Reactor::RunCrossCore(absl::Time stop_at) {
  ReactorMesh& mesh = *impl_->mesh;
  const size_t senders = mesh.size();
  std::function<void()> task;
  for (size_t k = 0; k < senders; ++k) {
    const size_t sender = (impl_->cross_core_next_sender + k) % senders;
    if (sender == static_cast<size_t>(index_)) continue;
    CrossCorePair& pair = mesh.pair(sender, index_);
    // Cleared before draining: a task pushed after the drain finds the flag
    // false and sends a new wake.
    pair.receiver_notified.exchange(false, std::memory_order_acq_rel);
    while (pair.queue.TryPop(&task)) {
      task();
      task = nullptr;
      if (absl::Now() >= stop_at) {
        impl_->cross_core_next_sender = sender;
        return true;
      }
    }
  }
  impl_->cross_core_next_sender = (impl_->cross_core_next_sender + 1) % senders;
  return false;
}

// Posted work also runs under kTurnBudget: what is left stays queued, in
// order, ahead of anything posted later.
void Reactor::RunPosted() {
  {
    std::lock_guard<std::mutex> lock(impl_->posted_mutex);
    for (auto& task : impl_->posted) impl_->posted_ready.push_back(std::move(task));
    impl_->posted.clear();
    impl_->wake_pending = false;
  }
  for (auto& task : impl_->posted_local) impl_->posted_ready.push_back(std::move(task));
  impl_->posted_local.clear();
  const absl::Time stop_at = absl::Now() + kTurnBudget;
  while (!impl_->posted_ready.empty()) {
    std::function<void()> task = std::move(impl_->posted_ready.front());
    impl_->posted_ready.pop_front();
    task();
    if (absl::Now() >= stop_at) return;  // cross-core flags stay set for next turn
  }
  if (impl_->mesh != nullptr && (impl_->cross_core_seen || impl_->cross_core_left)) {
    impl_->cross_core_seen = false;
    impl_->cross_core_left = RunCrossCore(stop_at);
  }
}

void Reactor::AddLoopEndHook(std::function<void()> fn) {
  impl_->loop_end_hooks.push_back(std::move(fn));
}

void Reactor::SetTurnObserver(std::function<void(absl::Duration)> fn) {
  impl_->turn_observer = std::move(fn);
}

void Reactor::WriteV(int fd, std::vector<iovec> iov, uint64_t offset,
                     std::function<void(int res)> done) {
  auto* op = new Operation{OpKind::kFile, nullptr, std::move(done), std::move(iov), 0, {}};
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_writev(sqe, fd, op->file_iov.data(), static_cast<unsigned>(op->file_iov.size()),
                       offset);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::Fdatasync(int fd, std::function<void(int res)> done) {
  auto* op = new Operation{OpKind::kFile, nullptr, std::move(done), {}, 0, {}};
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::Fsync(int fd, std::function<void(int res)> done) {
  auto* op = new Operation{OpKind::kFile, nullptr, std::move(done), {}, 0, {}};
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_fsync(sqe, fd, 0);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::Read(int fd, void* buffer, size_t bytes, uint64_t offset,
                   std::function<void(int res)> done) {
  auto* op = new Operation{OpKind::kFile, nullptr, std::move(done), {}, 0, {}};
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_read(sqe, fd, buffer, static_cast<unsigned>(bytes), offset);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::OpenAt(std::string path, int flags, mode_t mode, std::function<void(int res)> done) {
  auto* op = new Operation{OpKind::kFile, nullptr, std::move(done), {}, 0, std::move(path)};
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_openat(sqe, AT_FDCWD, op->path.c_str(), flags | O_CLOEXEC, mode);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::Unlink(std::string path, std::function<void(int res)> done) {
  auto* op = new Operation{OpKind::kFile, nullptr, std::move(done), {}, 0, std::move(path)};
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_unlinkat(sqe, AT_FDCWD, op->path.c_str(), 0);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::RenameAt(std::string from, std::string to, std::function<void(int res)> done) {
  // The new name lives in the completion callback until the kernel is done.
  auto new_name = std::make_shared<std::string>(std::move(to));
  auto* op = new Operation{OpKind::kFile,
                           nullptr,
                           [new_name, done = std::move(done)](int res) {
                             if (done) done(res);
                           },
                           {},
                           0,
                           std::move(from)};
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_renameat(sqe, AT_FDCWD, op->path.c_str(), AT_FDCWD, new_name->c_str(), 0);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::Ftruncate(int fd, uint64_t length, std::function<void(int res)> done) {
  auto* op = new Operation{OpKind::kFile, nullptr, std::move(done), {}, 0, {}};
  io_uring_sqe* sqe = impl_->GetSqe();
  // IORING_OP_FTRUNCATE (Linux 6.9) has no helper in liburing 2.3.
  io_uring_prep_rw(kOpFtruncate, sqe, fd, nullptr, 0, length);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::CloseFile(int fd, std::function<void(int res)> done) {
  auto* op = new Operation{OpKind::kFile, nullptr, std::move(done), {}, 0, {}};
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_close(sqe, fd);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

int Reactor::file_ops_in_flight() const { return impl_->file_ops_in_flight; }

Reactor::PollId Reactor::PollOnce(int fd, uint32_t events, std::function<void(int)> done) {
  PollId id = impl_->next_poll_id++;
  auto* op = new Operation{OpKind::kPoll, nullptr, std::move(done), {}, id, {}};
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_poll_add(sqe, fd, events);
  io_uring_sqe_set_data(sqe, op);
  impl_->polls.emplace(id, op);
  return id;
}

void Reactor::CancelPoll(PollId id) {
  auto it = impl_->polls.find(id);
  if (it == impl_->polls.end()) return;
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_poll_remove(sqe, reinterpret_cast<uint64_t>(it->second));
  // The removal's own completion needs no handling.
  io_uring_sqe_set_data(sqe, &IgnoredCompletion());
}

void Reactor::Dispatch(io_uring_cqe* cqe) {
  auto* op = static_cast<Operation*>(io_uring_cqe_get_data(cqe));
  if (op == nullptr) return;
  switch (op->kind) {
    case OpKind::kAccept:
      HandleAccept(*static_cast<Listener*>(op->owner), cqe->res,
                   (cqe->flags & IORING_CQE_F_MORE) != 0);
      break;
    case OpKind::kRecv:
      HandleRecv(*static_cast<Connection*>(op->owner), cqe->res, cqe->flags);
      break;
    case OpKind::kSend:
      HandleSend(*static_cast<Connection*>(op->owner), cqe->res);
      break;
    case OpKind::kConnect:
      HandleConnect(*static_cast<Connection*>(op->owner), cqe->res);
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
      if (done) done(cqe->res);
      break;
    }
    case OpKind::kPollRemove:
      break;
    case OpKind::kCrossCoreWake:
      impl_->cross_core_seen = true;  // drained once, at the turn's end
      break;
    case OpKind::kMsgRingSent:
      if (cqe->res < 0) {
        // No MSG_RING (old kernel, seccomp): wake through the eventfd.
        if (!impl_->msg_ring_failed_logged) {
          impl_->msg_ring_failed_logged = true;
          ETRND_LOG_WARNING("IORING_OP_MSG_RING failed (%s); cross-core wakes use the eventfd",
                            ErrnoText(-cqe->res));
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
      if (done) done(cqe->res);
      break;
    }
  }
}

void Reactor::Run() {
  absl::Time turn_started = absl::InfinitePast();  // none yet: the first wait
  while (true) {
    RunTeardownChecks();
    for (auto& hook : impl_->loop_end_hooks) hook();
    FlushSends();
    FlushCrossCore();
    if (impl_->turn_observer && turn_started != absl::InfinitePast()) {
      impl_->turn_observer(absl::Now() - turn_started);
    }
    if (impl_->stopping && impl_->connections.empty() && impl_->file_ops_in_flight == 0 &&
        impl_->posted_ready.empty() && impl_->posted_local.empty()) {
      break;
    }

    __kernel_timespec wait{};
    __kernel_timespec* wait_ptr = nullptr;
    if (!impl_->posted_ready.empty() || !impl_->posted_local.empty() || impl_->cross_core_seen ||
        impl_->cross_core_left) {
      // Work left over from the last turn's budget: poll, do not sleep.
      wait_ptr = &wait;
    } else if (!impl_->timers.empty() || impl_->overflow_tasks > 0) {
      absl::Duration left = impl_->timers.empty()
                                ? kCrossCoreOverflowRetry
                                : impl_->timers.begin()->first.first - absl::Now();
      if (impl_->overflow_tasks > 0) left = std::min(left, kCrossCoreOverflowRetry);
      if (left < absl::ZeroDuration()) left = absl::ZeroDuration();
      wait = absl::ToTimespec(left).tv_sec >= 0
                 ? __kernel_timespec{absl::ToTimespec(left).tv_sec, absl::ToTimespec(left).tv_nsec}
                 : __kernel_timespec{0, 0};
      wait_ptr = &wait;
    }
    io_uring_cqe* cqe = nullptr;
    int result = io_uring_submit_and_wait_timeout(&impl_->ring, &cqe, 1, wait_ptr, nullptr);
    if (impl_->turn_observer) turn_started = absl::Now();
    if (result == -EEXIST) {
      // IORING_SETUP_SINGLE_ISSUER: only the thread that created the ring
      // may use it. A programming error; spinning on it helps nobody.
      ETRND_LOG_ERROR("reactor %d used from a thread other than the one that created it", index_);
      std::abort();
    }
    if (result < 0 && result != -ETIME && result != -EINTR && result != -EAGAIN &&
        result != -EBUSY) {
      ETRND_LOG_ERROR("io_uring wait failed: %s", ErrnoText(-result));
    }
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(&impl_->ring, head, cqe) {
      Dispatch(cqe);
      ++seen;
    }
    io_uring_cq_advance(&impl_->ring, seen);
    RunDueTimers();
    if (impl_->wake_seen || !impl_->posted_ready.empty() || !impl_->posted_local.empty() ||
        impl_->cross_core_seen || impl_->cross_core_left) {
      impl_->wake_seen = false;
      RunPosted();
    }
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
