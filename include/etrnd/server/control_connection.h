// One etrnctl connection on the control socket: reads one request line
// (control::kRequestBytesMax, within kControlRequestTimeout), hands it to
// the ControlService, writes "OK"/"ERR" and the body, and closes.
#pragma once

#include <memory>
#include <string>

#include "etrnd/reactor/connection.h"
#include "etrnd/reactor/reactor.h"

namespace etrnd::server {

class ControlService;

class ControlConnection : public reactor::ConnectionHandler {
 public:
  ControlConnection(ControlService& service, reactor::Reactor& reactor);
  ~ControlConnection() override;

  void OnOpen(reactor::Connection& conn) override;
  void OnReceive(reactor::Connection& conn, std::string_view bytes) override;
  void OnClosed(reactor::Connection& conn, int error) override;

 private:
  // Outlives the handler: late replies and the timer find the connection
  // gone (nullptr) instead of a dangling pointer.
  struct Link {
    reactor::Connection* conn = nullptr;
  };
  void Respond(bool ok, const std::string& reason, const std::string& body);

  ControlService& service_;
  reactor::Reactor& reactor_;
  std::shared_ptr<Link> link_ = std::make_shared<Link>();
  std::string request_;
  reactor::Reactor::TimerId timer_ = 0;
  bool counted_ = false;
  bool requested_ = false;
};

}  // namespace etrnd::server
