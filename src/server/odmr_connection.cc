#include "etrnd/server/odmr_connection.h"

#include <utility>
#include <vector>

#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/etrn/atrn_policy.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/server/core.h"
#include "etrnd/server/odmr_auth.h"
#include "etrnd/server/odmr_turn.h"

namespace etrnd::server {
namespace {

smtp::OdmrConfig OdmrConfigOf(Core& core, std::string auth_mechanisms) {
  smtp::OdmrConfig config;
  config.auth_mechanisms = std::move(auth_mechanisms);
  config.starttls = core.tls().server != nullptr;
  config.hostname = core.context().options.hostname;
  config.max_line_bytes = core.context().options.session_limits.max_command_line_bytes;
  return config;
}

// After the 250 the connection is the turn's: its bytes, its end.
class TurnConnection : public reactor::ConnectionHandler {
 public:
  TurnConnection(Core& core, uint64_t turn_id, std::unique_ptr<OdmrStream> stream)
      : core_(core), turn_id_(turn_id), stream_(std::move(stream)) {}

  void OnOpen(reactor::Connection&) override {
    if (OdmrTurn* turn = core_.odmr_turns().Find(turn_id_)) turn->Attach(std::move(stream_));
  }
  void OnReceive(reactor::Connection&, std::string_view bytes) override {
    if (OdmrTurn* turn = core_.odmr_turns().Find(turn_id_)) turn->OnBytes(bytes);
  }
  void OnClosed(reactor::Connection&, int error) override {
    if (OdmrTurn* turn = core_.odmr_turns().Find(turn_id_)) turn->OnConnectionGone(error);
    core_.odmr_turns().Reap(turn_id_);
  }

 private:
  Core& core_;
  const uint64_t turn_id_;
  std::unique_ptr<OdmrStream> stream_;  // until OnOpen hands it to the turn
};

}  // namespace

OdmrConnection::OdmrConnection(Core& core, SocketAddress peer)
    : core_(core),
      peer_(peer),
      auth_(std::make_unique<OdmrAuth>(core, peer)),
      session_(OdmrConfigOf(core, auth_->Mechanisms())) {}

OdmrConnection::~OdmrConnection() {
  // Here, not in OnClosed: after the turn took the connection over this
  // handler lives (and counts) until the connection itself is gone.
  if (admitted_) core_.context().limiter.Release(peer_.ip());
  *alive_ = false;
  if (idle_timer_ != 0) core_.reactor().CancelTimer(idle_timer_);
}

void OdmrConnection::OnOpen(reactor::Connection& conn) {
  // ODMR sessions count against --max_connections(_per_ip) like SMTP ones.
  if (core_.context().limiter.TryAdmit(peer_.ip()) != Admission::kAdmitted) {
    ETRND_LOG_INFO_REPEATED("refused connection", peer_.ip().ToString(),
                            "refused ODMR connection from %s: too many connections",
                            peer_.ToString());
    conn.Send("421 4.7.0 " + core_.context().options.hostname + " Error: too many connections\r\n");
    conn.Close();
    return;
  }
  admitted_ = true;
  stream_ = std::make_unique<OdmrStream>(conn);
  core_.odmr_turns().AddSession(this);
  ETRND_LOG_DEBUG("ODMR connect from %s", peer_.ToString());
  session_.Start();
  Flush();
}

void OdmrConnection::OnReceive(reactor::Connection&, std::string_view bytes) {
  if (stream_ == nullptr) return;
  std::string plaintext;
  bool established = false;
  if (absl::Status status = stream_->Receive(bytes, &plaintext, &established); !status.ok()) {
    ETRND_LOG_INFO_REPEATED("TLS failed", peer_.ip().ToString(), "odmr %s: TLS: %s",
                            peer_.ToString(), std::string(status.message()));
    stream_->Close();
    return;
  }
  if (established) {
    // RFC 3207: a fresh session; PLAIN and LOGIN are offered now.
    auth_->OnTlsEstablished();
    session_.StartTlsDone(auth_->Mechanisms());
  }
  if (!plaintext.empty()) session_.OnBytes(plaintext);
  HandleRequests();
  Flush();
}

void OdmrConnection::Shutdown() {
  session_.OnShutdown();
  Flush();
}

void OdmrConnection::OnClosed(reactor::Connection&, int) {
  stream_.reset();
  core_.odmr_turns().RemoveSession(this);
  if (idle_timer_ != 0) core_.reactor().CancelTimer(idle_timer_);
  idle_timer_ = 0;
  if (turn_id_ != 0) {
    // Gone while the cores counted: the turn defers whatever they send.
    if (OdmrTurn* turn = core_.odmr_turns().Find(turn_id_)) turn->OnConnectionGone(0);
    core_.odmr_turns().Reap(turn_id_);
    turn_id_ = 0;
  }
}

void OdmrConnection::HandleRequests() {
  // An answer given at once lets the session read the next request.
  while (std::optional<smtp::OdmrRequest> request = session_.TakeRequest()) {
    HandleRequest(*request);
  }
}

void OdmrConnection::HandleRequest(const smtp::OdmrRequest& request) {
  switch (request.kind) {
    case smtp::OdmrRequest::Kind::kAuth:
    case smtp::OdmrRequest::Kind::kAuthResponse: {
      std::weak_ptr<bool> alive = alive_;
      auth_->Handle(request, session_, [this, alive] {
        // An answer that came back later: the session may read on.
        if (alive.expired() || !*alive.lock()) return;
        HandleRequests();
        Flush();
      });
      break;
    }
    case smtp::OdmrRequest::Kind::kAtrn:
      StartAtrn(request.argument);
      break;
    case smtp::OdmrRequest::Kind::kStartTls: {
      Flush();  // the 220 goes in clear; what follows is TLS
      const transport::TlsContext* context = core_.tls().server.get();
      // Offered only with a certificate, and a failed reload keeps the old one.
      ETRND_CHECK(context != nullptr);
      if (absl::Status status = stream_->StartTls(*context); !status.ok()) {
        ETRND_LOG_WARNING("odmr %s: cannot start TLS: %s", peer_.ToString(),
                          std::string(status.message()));
        stream_->Close();
        stream_.reset();
      }
      break;
    }
  }
}

void OdmrConnection::StartAtrn(const std::string& argument) {
  const std::string& user = session_.user();
  atrn_argument_ = argument;
  etrn::AtrnPlan plan = etrn::PlanAtrn(core_.table(), user, argument);
  if (plan.refused()) {
    AnswerAtrn(*plan.reply, 0);
    return;
  }
  if (plan.domains.empty() && plan.subtrees.empty()) {
    AnswerAtrn(etrn::kAtrnNoMail, 0);
    return;
  }
  OdmrTurn& turn = core_.odmr_turns().Create(core_, user, peer_.ToString());
  turn_id_ = turn.id();
  turn.SetCountedCallback([this](size_t messages) { OnAtrnCounted(messages); });
  // Domains are spread over the cores by hash: every core counts and turns
  // its own (O(named domains + queued domains under the user's entries)).
  auto shared_plan = std::make_shared<const etrn::AtrnPlan>(std::move(plan));
  Core* origin = &core_;
  const uint64_t turn_id = turn_id_;
  auto shared_user = std::make_shared<const std::string>(user);
  auto client = std::make_shared<const std::string>(peer_.ToString());
  ServerContext& context = core_.context();
  for (size_t i = 0; i < context.core_count(); ++i) {
    Core* owner = &context.core(i);
    core_.SendTo(*owner, [owner, origin, turn_id, shared_plan, shared_user, client] {
      // The owner walks its domains in slices; each slice's jobs are
      // counted at the turn before their first batch gets there.
      owner->queue().StartTurn(*shared_plan, *shared_user, *client, origin->index(), turn_id,
                               [owner, origin, turn_id](qmgr::TurnShardResult started, bool last) {
                                 owner->SendTo(*origin, [origin, turn_id, started, last] {
                                   DeliverTurnCount(*origin, turn_id, started.messages,
                                                    started.jobs, last);
                                 });
                               });
    });
  }
}

void OdmrConnection::OnAtrnCounted(size_t messages) {
  ETRND_CHECK(turn_id_ != 0);
  OdmrTurn* turn = core_.odmr_turns().Find(turn_id_);
  ETRND_CHECK(turn != nullptr);
  if (messages == 0) {
    // No job started anywhere: the turn ends with nothing to wait for (it
    // is reaped by the caller once this returns).
    turn->OnConnectionGone(0);
    turn_id_ = 0;
    AnswerAtrn(etrn::kAtrnNoMail, 0);
    HandleRequests();
    Flush();
    return;
  }
  AnswerAtrn(etrn::kAtrnReversing, messages);
  const uint64_t turn_id = std::exchange(turn_id_, 0);
  if (idle_timer_ != 0) core_.reactor().CancelTimer(idle_timer_);
  idle_timer_ = 0;
  Flush();  // the 250 leaves before the turn's first byte
  if (stream_ == nullptr || stream_->connection().closing()) {
    turn->OnConnectionGone(0);
    return;
  }
  // From here this handler gets no more events; the turn owns the stream.
  core_.odmr_turns().RemoveSession(this);
  reactor::Connection& conn = stream_->connection();
  conn.ReplaceHandler(std::make_unique<TurnConnection>(core_, turn_id, std::move(stream_)));
}

void OdmrConnection::AnswerAtrn(std::string_view reply, size_t messages) {
  const bool reversing = reply.substr(0, 3) == "250";
  const int code = (reply[0] - '0') * 100 + (reply[1] - '0') * 10 + (reply[2] - '0');
  ETRND_LOG_INFO_EVENT("atrn",
                       {{"user", session_.user()},
                        {"client", peer_.ToString()},
                        {"argument", atrn_argument_},
                        {"code", code},
                        {"count", messages},
                        {"reply", reply}},
                       "ATRN %s by %s from %s: %d count=%d", atrn_argument_, session_.user(),
                       peer_.ToString(), code, messages);
  core_.metrics().atrn_replies.Add(code);
  session_.AtrnAnswered(reply, reversing);
}

void OdmrConnection::Flush() {
  if (stream_ == nullptr) return;
  // Mid-handshake only a 421 (timeout, shutdown) can come; the close says it.
  if (!stream_->tls() || stream_->tls_established()) stream_->Send(session_.TakeOutput());
  if (session_.close_requested()) {
    stream_->Close();
    return;
  }
  if (!session_.reversing()) ArmIdleTimer();
}

void OdmrConnection::ArmIdleTimer() {
  if (idle_timer_ != 0) core_.reactor().CancelTimer(idle_timer_);
  idle_timer_ = core_.reactor().RunAfter(core_.context().options.idle_timeout, [this] {
    idle_timer_ = 0;
    session_.OnTimeout();
    Flush();
  });
}

}  // namespace etrnd::server
