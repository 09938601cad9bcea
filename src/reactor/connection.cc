#include "etrnd/reactor/connection.h"

#include <unistd.h>

#include "etrnd/common/check.h"
#include "etrnd/reactor/reactor.h"
#include "reactor_impl.h"

namespace etrnd::reactor {

Connection::Connection(Reactor& reactor, int fd, uint64_t id, SocketAddress peer,
                       SocketAddress local, std::unique_ptr<ConnectionHandler> handler)
    : reactor_(reactor),
      fd_(fd),
      id_(id),
      peer_(peer),
      local_(local),
      handler_(std::move(handler)) {}

Connection::~Connection() = default;

void Connection::Send(std::string_view bytes) { Send(std::string(bytes)); }

void Connection::Send(std::string&& bytes) {
  if (closed_ || bytes.empty()) return;
  pending_bytes_ += bytes.size();
  output_.push_back(std::move(bytes));
  if (!send_scheduled_) {
    send_scheduled_ = true;
    reactor_.impl_->send_pending.push_back(id_);
  }
}

void Connection::Close() {
  if (closing_) return;
  closing_ = true;
  reactor_.ArmCloseDrainDeadline(*this);
  reactor_.ScheduleTeardownCheck(*this);
}

void Connection::Abort() {
  if (finished_) return;
  closing_ = true;
  closed_ = true;
  aborted_ = true;
  // An in-flight send's iovecs point into output_: it is freed when the
  // cancelled send completes (HandleSend), not before.
  if (!send_in_flight_) {
    output_.clear();
    output_offset_ = 0;
    pending_bytes_ = 0;
  }
  reactor_.ScheduleTeardownCheck(*this);
}

void Connection::ReplaceHandler(std::unique_ptr<ConnectionHandler> handler) {
  ETRND_CHECK(handler != nullptr && !finished_ && retired_handler_ == nullptr);
  retired_handler_ = std::move(handler_);
  handler_ = std::move(handler);
  handler_->OnOpen(*this);
}

void Connection::PauseReceive() {
  if (receive_paused_) return;
  receive_paused_ = true;
  reactor_.CancelReceiveForPause(*this);
}

void Connection::ResumeReceive() {
  if (!receive_paused_) return;
  receive_paused_ = false;
  reactor_.RearmReceiveAfterPause(*this);
}

}  // namespace etrnd::reactor
