// One connection to the ODMR port (--odmr_listen): binds a reactor
// connection to the pure smtp::OdmrSession, answers its AUTH and ATRN
// requests (ATRN: policy on this core, then a count and turn on every
// core), and after the 250 hands the connection to the turn (OdmrTurn),
// which speaks SMTP as the client on it from then on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "etrnd/common/net_address.h"
#include "etrnd/reactor/connection.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/server/odmr_stream.h"
#include "etrnd/smtp/odmr_session.h"

namespace etrnd::server {

class Core;
class OdmrAuth;

class OdmrConnection : public reactor::ConnectionHandler {
 public:
  OdmrConnection(Core& core, SocketAddress peer);
  ~OdmrConnection() override;

  void OnOpen(reactor::Connection& conn) override;
  void OnReceive(reactor::Connection& conn, std::string_view bytes) override;
  void OnClosed(reactor::Connection& conn, int error) override;
  // SIGTERM: 421 and close.
  void Shutdown();

 private:
  void HandleRequests();
  void HandleRequest(const smtp::OdmrRequest& request);
  void StartAtrn(const std::string& argument);
  void OnAtrnCounted(size_t messages);
  void AnswerAtrn(std::string_view reply, size_t messages);
  void Flush();
  void ArmIdleTimer();

  Core& core_;
  const SocketAddress peer_;
  std::unique_ptr<OdmrAuth> auth_;  // before session_: it says what EHLO offers
  smtp::OdmrSession session_;
  std::unique_ptr<OdmrStream> stream_;  // from admission until closed or handed over
  reactor::Reactor::TimerId idle_timer_ = 0;
  bool admitted_ = false;  // counted by the connection limiter
  uint64_t turn_id_ = 0;   // the ATRN being counted, 0 = none
  std::string atrn_argument_;
  // Set while alive: async answers (AUTH) check it before touching us.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace etrnd::server
