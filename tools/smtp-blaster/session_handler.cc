#include "etrnd/blaster/session_handler.h"

#include <utility>

#include "etrnd/blaster/client_worker.h"
#include "etrnd/common/strings.h"

namespace etrnd::blaster {
namespace {

// What the pump found, told to the session; its answers go into `actions`.
class ActionsFeed : public transport::TlsPumpListener {
 public:
  ActionsFeed(ClientSession& session, ClientActions* actions)
      : session_(session), actions_(actions) {}
  void OnTlsStarted() override { session_.OnTlsStarted(actions_); }
  void OnPlaintext(std::string_view bytes) override { session_.OnReceive(bytes, actions_); }
  void OnTlsFailed(std::string_view why) override { session_.OnTlsFailed(why, actions_); }
  void OnTlsEnded(std::string_view error) override {
    // A close_notify ends the session like the TCP close that follows it.
    session_.OnConnectionLost(error.empty() ? "connection" : "tls", actions_);
    actions_->close = true;
  }

 private:
  ClientSession& session_;
  ClientActions* actions_;
};

}  // namespace

SessionHandler::SessionHandler(ClientWorker& worker, int slot, ClientSessionConfig config,
                               std::shared_ptr<const transport::TlsContext> tls_context)
    : worker_(worker),
      slot_(slot),
      session_(std::move(config)),
      tls_context_(std::move(tls_context)),
      stream_([this](std::string bytes) {
        if (connection_ != nullptr) connection_->Send(std::move(bytes));
      }) {}

void SessionHandler::OnOpen(reactor::Connection& connection) {
  connection_ = &connection;
  worker_.OnSessionOpen(slot_);
}

void SessionHandler::OnReceive(reactor::Connection& /*connection*/, std::string_view bytes) {
  ClientActions actions;
  ActionsFeed feed(session_, &actions);
  stream_.Receive(bytes, feed);
  if (actions.ready) was_ready_ = true;
  worker_.Apply(slot_, actions);
}

void SessionHandler::OnClosed(reactor::Connection& /*connection*/, int /*error*/) {
  const bool opened = connection_ != nullptr;
  connection_ = nullptr;
  if (!opened) return worker_.OnConnectFailed(slot_);
  ClientActions actions;
  session_.OnConnectionLost(timed_out_ ? "timeout" : "connection", &actions);
  worker_.Apply(slot_, actions);
  worker_.OnSessionClosed(slot_, was_ready_);
}

void SessionHandler::Perform(ClientActions& actions) {
  for (std::string& bytes : actions.sends) stream_.SendOwned(std::move(bytes));
  // Written into a failed TLS session: nothing more can reach the server.
  if (!actions.sends.empty() && stream_.failed() && connection_ != nullptr) connection_->Abort();
  if (actions.start_tls) StartTls(&actions);
  if (actions.close && connection_ != nullptr) {
    stream_.Shutdown();
    connection_->Close();
  }
}

void SessionHandler::StartTls(ClientActions* actions) {
  const absl::Status status = tls_context_ == nullptr
                                  ? absl::FailedPreconditionError("no TLS context")
                                  : stream_.StartClient(*tls_context_, {});
  if (status.ok()) return;
  ClientActions failed;
  session_.OnTlsFailed(AsStd(status.message()), &failed);
  actions->close = true;
  for (const TransactionResult& result : failed.results) actions->results.push_back(result);
  if (!failed.session_error.empty()) actions->session_error = failed.session_error;
}

void SessionHandler::TimeOut() {
  timed_out_ = true;
  if (connection_ != nullptr) connection_->Abort();
}

}  // namespace etrnd::blaster
