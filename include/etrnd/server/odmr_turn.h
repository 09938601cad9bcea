// One ODMR turn (RFC 2645) on the core that holds the ATRN connection: after
// the 250, etrnd is the SMTP client on that same connection. The domains'
// queues live on their owner cores, where a flush job per domain reads the
// messages and sends them here in batches (the bodies stay owned by that
// job until the batch is done). The turn feeds them to one SMTP client
// session that waits for more (quit_when_idle=false), sends each answer back
// to the job's core (which writes the completion records, as a flush does),
// and QUITs once every job is done. A lost connection defers everything not
// yet answered: the owner cores keep it queued.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "etrnd/reactor/connection.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/server/odmr_stream.h"
#include "etrnd/server/odmr_turn_ledger.h"
#include "etrnd/smtp/client_session.h"

namespace etrnd::server {

class Core;
class OdmrConnection;

class OdmrTurn {
 public:
  OdmrTurn(Core& core, uint64_t id, std::string user, std::string client);
  ~OdmrTurn();

  uint64_t id() const { return id_; }
  const std::string& user() const { return user_; }

  // Count phase: each core's walk reports the jobs it started slice by
  // slice (TurnShardResult), `last` on its final slice.
  void OnShardCounted(size_t messages, size_t jobs, bool last);
  // Runs once every core has answered, with the total (cleared when the
  // connection goes first).
  void SetCountedCallback(std::function<void(size_t messages)> counted) {
    counted_ = std::move(counted);
  }
  bool counted() const { return cores_left_ == 0; }
  size_t messages() const { return messages_; }

  // From an owner core: a batch of its job's messages (tokens are the job's).
  void OnBatch(int origin_core, uint64_t job_id, std::vector<smtp::OutboundMessage> batch);
  // From an owner core: the job is over (all of its completions durable).
  void OnJobDone();

  // The reversed connection (after the 250) and its events.
  void Attach(std::unique_ptr<OdmrStream> stream);
  void OnBytes(std::string_view bytes);
  // The connection is gone (or was never handed over): everything not
  // answered is deferred; batches still arriving are deferred at once.
  void OnConnectionGone(int error);

  // Closes the connection (shutdown); unanswered messages are deferred.
  void Close();

  // True once nothing more will happen here: the registry drops the turn.
  bool finished() const;

 private:
  void Pump();
  void RouteOutcomes();
  void MaybeQuit();
  void ArmTimeout();
  void Log() const;

  Core& core_;
  const uint64_t id_;
  const std::string user_;
  const std::string client_;
  smtp::ClientSession session_;
  std::unique_ptr<OdmrStream> stream_;  // set from the 250 until the connection is gone
  bool gone_ = false;                   // the connection ended (or never came)
  bool quit_sent_ = false;
  // Answers made here for messages that reached a finished session.
  std::vector<smtp::RecipientOutcome> late_outcomes_;
  reactor::Reactor::TimerId timeout_timer_ = 0;
  size_t cores_left_;
  std::function<void(size_t)> counted_;
  size_t messages_ = 0;
  size_t jobs_started_ = 0, jobs_done_ = 0;
  size_t delivered_ = 0, deferred_ = 0, bounced_ = 0;
  TurnLedger ledger_;
  absl::Time started_;
};

// The ODMR sessions and turns on one core; turns by id (owner cores name a
// turn by core and id).
class OdmrTurns {
 public:
  // Sessions before their turn, for shutdown.
  void AddSession(OdmrConnection* session) { sessions_.insert(session); }
  void RemoveSession(OdmrConnection* session) { sessions_.erase(session); }
  // SIGTERM: 421 to every session, and every turn's connection is closed
  // (whatever the customer has not answered stays queued).
  void Shutdown();

  OdmrTurn& Create(Core& core, std::string user, std::string client);
  OdmrTurn* Find(uint64_t id);
  // Drops the turn if it is finished.
  void Reap(uint64_t id);
  size_t size() const { return turns_.size(); }

 private:
  absl::flat_hash_map<uint64_t, std::unique_ptr<OdmrTurn>> turns_;
  absl::flat_hash_set<OdmrConnection*> sessions_;
  uint64_t next_id_ = 1;
};

// Entry points for owner cores' messages, on turn_core's thread.
void DeliverTurnBatch(Core& turn_core, uint64_t turn_id, int origin_core, uint64_t job_id,
                      std::vector<smtp::OutboundMessage> batch);
void DeliverTurnJobDone(Core& turn_core, uint64_t turn_id);
void DeliverTurnCount(Core& turn_core, uint64_t turn_id, size_t messages, size_t jobs, bool last);

}  // namespace etrnd::server
