// A connection's life on the ring: accept or connect, multishot/one-shot
// receives, coalesced sends with partial-write continuation, back-pressure
// pauses, and the teardown (cancel, shutdown or reset, close).
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/reactor/reactor.h"
#include "reactor_impl.h"

namespace etrnd::reactor {

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
                      absl::Duration timeout, bool background) {
  sockaddr_storage storage;
  socklen_t length = addr.ToSockaddr(&storage);
  int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  Connection* connection = AddConnection(fd, addr, SocketAddress(), std::move(handler));
  connection->SetBackground(background);
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

}  // namespace etrnd::reactor
