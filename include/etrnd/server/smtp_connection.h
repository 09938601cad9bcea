// Binds one accepted TCP connection (reactor) to one SMTP server session
// (pure protocol): bytes in, replies out; the session's storage and ETRN
// requests are served by the core.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "etrnd/reactor/connection.h"
#include "etrnd/smtp/server_session.h"

namespace etrnd::server {

class Core;

class SmtpConnection : public reactor::ConnectionHandler, public smtp::SessionServices {
 public:
  SmtpConnection(Core& core, SocketAddress peer);
  ~SmtpConnection() override;

  // reactor::ConnectionHandler
  void OnOpen(reactor::Connection& conn) override;
  void OnReceive(reactor::Connection& conn, std::string_view bytes) override;
  void OnSendDrained(reactor::Connection& conn) override;
  void OnClosed(reactor::Connection& conn, int error) override;

  // smtp::SessionServices
  smtp::RecipientVerdict CheckRecipient(std::string_view domain) override;
  std::string NewQueueId() override;
  void StoreMessage(smtp::AcceptedMessage message) override;
  void StartEtrn(std::string_view argument) override;
  size_t UnsentOutputBytes() override;
  void OnRefused(int reply_code) override;
  void OnEtrnAnswered(int reply_code) override;

  // From the core: results of asynchronous requests, timeouts, shutdown.
  void DeliverStoreResult(absl::StatusOr<std::string> queue_id);
  void DeliverEtrnResult(std::string reply_line);
  // The once-a-second deadline check: the session's own deadlines, and
  // output that has not drained within the idle timeout (-> abort).
  void CheckDeadlines(absl::Time now, absl::Duration idle_timeout);
  void Shutdown();

 private:
  void Flush();
  // Reads from the socket only while the session wants input.
  void UpdateReading();

  Core& core_;
  const SocketAddress peer_;
  reactor::Connection* conn_ = nullptr;
  std::optional<smtp::ServerSession> session_;
  uint64_t session_id_ = 0;
  bool admitted_ = false;
  bool ever_paused_ = false;
  absl::Time output_blocked_since_ = absl::InfiniteFuture();
};

}  // namespace etrnd::server
