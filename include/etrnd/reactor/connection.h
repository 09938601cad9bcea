// A TCP stream owned by one Reactor. The reactor knows nothing of the bytes'
// meaning: it hands received bytes to a ConnectionHandler and writes what the
// handler gives it, in order, handling partial writes.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "etrnd/common/net_address.h"

namespace etrnd::reactor {

class Reactor;
class Connection;

// Callbacks run on the owning reactor's thread only.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // Inbound: right after accept. Outbound: once the connect completed.
  virtual void OnOpen(Connection& conn) = 0;
  // Received bytes; the view points into a provided buffer and is valid only
  // during this call (copy what must outlive it).
  virtual void OnReceive(Connection& conn, std::string_view bytes) = 0;
  // Every byte queued with Send() has been written to the socket.
  virtual void OnSendDrained(Connection& /*conn*/) {}
  // Last callback. error is 0 for an orderly close (peer EOF or Close()),
  // else a negative errno (e.g. -ECONNREFUSED for a failed connect). The
  // handler is destroyed right after it returns.
  virtual void OnClosed(Connection& conn, int error) = 0;
};

class Connection {
 public:
  Connection(Reactor& reactor, int fd, uint64_t id, SocketAddress peer, SocketAddress local,
             std::unique_ptr<ConnectionHandler> handler);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Queues bytes to send; writes start at the end of the current loop turn so
  // replies to a pipelined group leave in one send.
  void Send(std::string_view bytes);
  void Send(std::string&& bytes);
  // Closes after every queued byte is written. No more OnReceive after this.
  // A peer that does not read them within the reactor's close drain timeout
  // is aborted.
  void Close();
  // Closes now, dropping unsent bytes: in-flight operations are cancelled
  // and the socket is reset, so the kernel frees its buffers at once.
  void Abort();

  // Back-pressure: stop reading from the socket until ResumeReceive().
  // Bytes the kernel had already delivered may still reach OnReceive.
  void PauseReceive();
  void ResumeReceive();
  bool receive_paused() const { return receive_paused_; }
  // Multishot recv (one SQE for the connection's life) is cheaper, but after
  // a pause it can still hand over everything the peer pushed meanwhile;
  // one-shot recvs bound that to one buffer. Takes effect at the next arm.
  void SetMultishotReceive(bool on) { multishot_recv_ = on; }
  // Background work (outbound deliveries) yields to everything else: its
  // completions, and the file operations submitted while handling them, run
  // after the turn's other work, paced by BackgroundPacing while clients are
  // active, so a big flush cannot make sessions wait for it.
  void SetBackground(bool on) { background_ = on; }
  bool background() const { return background_; }

  size_t pending_output_bytes() const { return pending_bytes_; }
  bool closing() const { return closing_; }
  const SocketAddress& peer() const { return peer_; }
  const SocketAddress& local() const { return local_; }
  uint64_t id() const { return id_; }
  Reactor& reactor() { return reactor_; }
  ConnectionHandler* handler() { return handler_.get(); }
  // Hands the connection to another handler (a protocol changing role on
  // the same stream, e.g. ODMR's reversal). Callable from inside the current
  // handler's callbacks: the old handler is kept alive until the connection
  // is destroyed. The new one gets OnOpen() at once, then every later event.
  void ReplaceHandler(std::unique_ptr<ConnectionHandler> handler);

 private:
  friend class Reactor;

  Reactor& reactor_;
  int fd_;
  uint64_t id_;
  SocketAddress peer_;
  SocketAddress local_;
  std::unique_ptr<ConnectionHandler> handler_;
  std::unique_ptr<ConnectionHandler> retired_handler_;  // see ReplaceHandler

  std::deque<std::string> output_;  // front() is being written from offset_
  size_t output_offset_ = 0;
  size_t pending_bytes_ = 0;
  bool send_in_flight_ = false;
  bool send_scheduled_ = false;
  bool recv_armed_ = false;
  bool closing_ = false;      // Close(): finish output, then close
  bool closed_ = false;       // fd closed or close in flight
  bool open_ = false;         // OnOpen delivered
  bool cancel_sent_ = false;  // recv cancel submitted (teardown)
  bool receive_paused_ = false;
  bool multishot_recv_ = true;
  bool background_ = false;
  bool pause_cancel_sent_ = false;  // recv cancel submitted (PauseReceive)
  bool send_cancel_sent_ = false;   // in-flight send cancelled (teardown)
  bool aborted_ = false;            // Abort(): reset rather than FIN
  bool shut_down_ = false;          // shutdown(2) done
  uint64_t drain_timer_ = 0;        // Close()'s deadline, 0 = none
  bool finished_ = false;           // OnClosed delivered
  int close_error_ = 0;
  int inflight_ops_ = 0;  // SQEs referencing this connection
};

}  // namespace etrnd::reactor
