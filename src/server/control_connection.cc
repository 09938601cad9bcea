#include "etrnd/server/control_connection.h"

#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/control/control_render.h"
#include "etrnd/control/control_request.h"
#include "etrnd/server/control_service.h"

namespace etrnd::server {

ControlConnection::ControlConnection(ControlService& service, reactor::Reactor& reactor)
    : service_(service), reactor_(reactor) {}

ControlConnection::~ControlConnection() = default;

void ControlConnection::OnOpen(reactor::Connection& conn) {
  link_->conn = &conn;
  if (service_.connections >= kControlConnectionsMax) {
    conn.Send(std::string("ERR busy: too many control connections\n"));
    conn.Close();
    return;
  }
  ++service_.connections;
  counted_ = true;
  std::shared_ptr<Link> link = link_;
  timer_ = reactor_.RunAfter(kControlRequestTimeout, [link] {
    if (link->conn != nullptr) link->conn->Abort();
  });
}

void ControlConnection::OnReceive(reactor::Connection&, std::string_view bytes) {
  if (requested_ || link_->conn == nullptr) return;
  const size_t newline = bytes.find('\n');
  const std::string_view part =
      newline == std::string_view::npos ? bytes : bytes.substr(0, newline);
  if (request_.size() + part.size() >= control::kRequestBytesMax) {
    requested_ = true;
    Respond(false, "request too long", "");
    return;
  }
  request_.append(part);
  if (newline == std::string_view::npos) return;
  requested_ = true;
  reactor_.CancelTimer(timer_);
  timer_ = 0;
  absl::StatusOr<control::Request> request = control::ParseRequest(request_);
  if (!request.ok()) {
    const bool json = request_.rfind("json ", 0) == 0;
    std::string reason(request.status().message());
    ETRND_LOG_INFO("etrnctl: refused request '%s': %s", request_, reason);
    Respond(false, reason, control::RenderError(reason, json));
    return;
  }
  ETRND_LOG_DEBUG("etrnctl request: %s", request_);
  std::shared_ptr<Link> link = link_;
  ControlConnection* self = this;
  service_.Handle(*request, [link, self](ControlResponse response) {
    // The handler lives as long as its connection.
    if (link->conn == nullptr) return;
    self->Respond(response.ok, response.reason, response.body);
  });
}

void ControlConnection::Respond(bool ok, const std::string& reason, const std::string& body) {
  reactor::Connection* conn = link_->conn;
  ETRND_CHECK(conn != nullptr);
  std::string out = ok ? "OK\n" : "ERR " + reason + "\n";
  out += body;
  conn->Send(std::move(out));
  conn->Close();
}

void ControlConnection::OnClosed(reactor::Connection&, int) {
  link_->conn = nullptr;
  if (timer_ != 0) reactor_.CancelTimer(timer_);
  if (counted_) {
    ETRND_CHECK(service_.connections > 0);
    --service_.connections;
  }
}

}  // namespace etrnd::server
