#include "etrnd/server/etrn_service.h"

#include <cstdlib>
#include <memory>

#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/etrn/etrn_policy.h"
#include "etrnd/etrn/etrn_replies.h"
#include "etrnd/peers/peer_count.h"
#include "etrnd/peers/peer_fanout.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/queue/domain_queue_index.h"
#include "etrnd/server/core.h"

namespace etrnd::server {
namespace {

// Gathers the per-core answers of one ETRN; lives on the origin core.
struct EtrnGather {
  std::string as_sent;
  std::string client;
  size_t cores_left = 0;
  size_t messages = 0;
  bool refused_for_resources = false;
  // --peers: the fan-out's count (peers_pending until it is in).
  bool forwarded = false;
  bool peers_pending = false;
  size_t peer_messages = 0;
  bool from_peer = false;
  bool answered = false;
  std::function<void(std::string)> reply;
  // Counted while the client's bucket is asked (CountWhileLimiting).
  bool limiter_pending = false;
  bool allowed = false;
  std::string argument;  // as the session gave it: the 458's text
};

void Answer(const EtrnGather& gather) {
  // A local refusal (held, too many flushes) stands only when the peers
  // have nothing either.
  std::string line =
      peers::CombinedReply({.local_messages = gather.refused_for_resources ? 0 : gather.messages,
                            .local_refused_for_resources = gather.refused_for_resources,
                            .peer_messages = gather.peer_messages},
                           gather.as_sent);
  const std::string code = line.substr(0, 3);
  // "from peer" and "peers=" tell an operator (and the tests) which ETRN
  // was forwarded and what the other nodes added.
  std::string how;
  if (gather.from_peer) how = " (from peer)";
  if (gather.forwarded)
    how = " local=" + std::to_string(gather.messages) +
          " peers=" + std::to_string(gather.peer_messages);
  ETRND_LOG_INFO_EVENT("etrn",
                       {{"client", gather.client},
                        {"argument", gather.as_sent},
                        {"code", std::atoi(code.c_str())},
                        {"count", gather.messages + gather.peer_messages},
                        {"from_peer", gather.from_peer ? "yes" : "no"},
                        {"peer_count", gather.peer_messages},
                        {"reply", line}},
                       "ETRN %s from %s: %s count=%d%s", gather.as_sent, gather.client, code,
                       gather.messages + gather.peer_messages, how);
  gather.reply(std::move(line));
}

// Called after each core's and the fan-out's answer: the last one replies.
void AnswerWhenComplete(EtrnGather& gather) {
  if (gather.cores_left > 0 || gather.peers_pending) return;
  ETRND_CHECK(!gather.answered);
  gather.answered = true;
  Answer(gather);
}

void ReplyRateLimited(const std::string& argument, const IpAddress& client,
                      const std::function<void(std::string)>& reply) {
  std::string line = etrn::ReplyUnableToQueue(argument);
  // A client can send thousands a second: summarised per client.
  std::string client_text = client.ToString();
  ETRND_LOG_WARNING_REPEATED_EVENT(
      "ETRN rate limited (458)", client_text, "etrn",
      {{"client", client_text}, {"argument", argument}, {"code", 458}, {"reply", line}},
      "ETRN %s from %s: 458 rate limited", argument, client_text);
  reply(std::move(line));
}

// The cores that hold the plan's domains: a node lives on one shard; @domain
// and #queue members are spread over all of them by the domain hash.
std::vector<size_t> OwnersOf(const etrn::EtrnPlan& plan, size_t core_count) {
  std::vector<size_t> owners;
  if (plan.argument.form == etrn::EtrnForm::kNode) {
    owners.push_back(queue::ShardForDomain(plan.argument.name, core_count));
  } else {
    for (size_t i = 0; i < core_count; ++i) owners.push_back(i);
  }
  return owners;
}

// On the origin core, once the client's bucket has answered.
void ContinueEtrn(Core& origin, std::string argument, const IpAddress& client,
                  const std::string& auth_user, bool allowed, bool from_peer,
                  std::function<void(std::string)> reply) {
  ServerContext& context = origin.context();
  if (!allowed) {
    ReplyRateLimited(argument, client, reply);
    return;
  }
  etrn::EtrnPlan plan = etrn::PlanEtrn(origin.table(), argument, client, auth_user, from_peer);
  if (plan.refused()) {
    std::string client_text = client.ToString();
    ETRND_LOG_INFO_REPEATED_EVENT("ETRN refused", client_text, "etrn",
                                  {{"client", client_text},
                                   {"argument", argument},
                                   {"code", std::atoi(plan.reply->substr(0, 3).c_str())},
                                   {"reply", *plan.reply}},
                                  "ETRN %s from %s: %s", argument, client_text, *plan.reply);
    reply(*plan.reply);
    return;
  }

  auto gather = std::make_shared<EtrnGather>();
  gather->as_sent = plan.argument.as_sent;
  gather->client = client.ToString();
  gather->reply = std::move(reply);
  gather->from_peer = from_peer;
  const std::vector<size_t> targets = OwnersOf(plan, context.core_count());
  gather->cores_left = targets.size();
  // Past this node's policy: every peer flushes too (never an ETRN that a
  // peer forwarded: no loops). Started first, the peers get a head start.
  if (!from_peer && !origin.peers().empty()) {
    gather->forwarded = true;
    gather->peers_pending = true;
    origin.peers().Forward(gather->as_sent, context.options.peers.timeout,
                           [gather](size_t peer_messages) {
                             gather->peer_messages = peer_messages;
                             gather->peers_pending = false;
                             AnswerWhenComplete(*gather);
                           });
  }
  auto shared_plan = std::make_shared<const etrn::EtrnPlan>(std::move(plan));
  Core* origin_core = &origin;
  for (size_t target : targets) {
    Core* owner = &context.core(target);
    origin.SendTo(*owner, [owner, origin_core, shared_plan, client, gather] {
      qmgr::EtrnShardResult result = owner->queue().FlushForEtrn(*shared_plan, client);
      owner->SendTo(*origin_core, [gather, result] {
        gather->messages += result.messages;
        gather->refused_for_resources |= result.refused_for_resources;
        --gather->cores_left;
        AnswerWhenComplete(*gather);
      });
    });
  }
}

// On the origin core, after each answer of CountWhileLimiting: the last one
// replies, and starts the flushes if the bucket allowed the ETRN.
void FinishCounted(Core& origin, const std::shared_ptr<EtrnGather>& gather,
                   const std::shared_ptr<const etrn::EtrnPlan>& plan, const IpAddress& client) {
  if (gather->cores_left > 0 || gather->limiter_pending) return;
  ETRND_CHECK(!gather->answered);
  gather->answered = true;
  if (!gather->allowed) {
    ReplyRateLimited(gather->argument, client, gather->reply);
    return;
  }
  // Counted again there, now: what changed meanwhile is what gets flushed.
  for (size_t target : OwnersOf(*plan, origin.context().core_count())) {
    Core* owner = &origin.context().core(target);
    origin.SendTo(*owner, [owner, plan, client] { owner->queue().FlushForEtrn(*plan, client); });
  }
  Answer(*gather);
}

// The client's bucket is on another core: the plan's owner cores count while
// it answers, one round trip instead of two in a row. Nothing starts before
// the bucket allows it.
void CountWhileLimiting(Core& origin, Core& limiter, std::string argument, etrn::EtrnPlan plan,
                        const IpAddress& client, std::function<void(std::string)> reply) {
  auto gather = std::make_shared<EtrnGather>();
  gather->argument = std::move(argument);
  gather->as_sent = plan.argument.as_sent;
  gather->client = client.ToString();
  gather->reply = std::move(reply);
  gather->limiter_pending = true;
  const std::vector<size_t> targets = OwnersOf(plan, origin.context().core_count());
  gather->cores_left = targets.size();
  auto shared_plan = std::make_shared<const etrn::EtrnPlan>(std::move(plan));
  Core* origin_core = &origin;
  Core* limiter_core = &limiter;
  origin.SendTo(limiter, [limiter_core, origin_core, client, gather, shared_plan] {
    const bool allowed = limiter_core->etrn_limiter().Allow(client, absl::Now());
    limiter_core->SendTo(*origin_core, [origin_core, gather, shared_plan, client, allowed] {
      gather->allowed = allowed;
      gather->limiter_pending = false;
      FinishCounted(*origin_core, gather, shared_plan, client);
    });
  });
  for (size_t target : targets) {
    Core* owner = &origin.context().core(target);
    origin.SendTo(*owner, [owner, origin_core, shared_plan, client, gather] {
      qmgr::EtrnShardResult result = owner->queue().CountForEtrn(*shared_plan, client);
      owner->SendTo(*origin_core, [origin_core, gather, shared_plan, client, result] {
        gather->messages += result.messages;
        gather->refused_for_resources |= result.refused_for_resources;
        --gather->cores_left;
        FinishCounted(*origin_core, gather, shared_plan, client);
      });
    });
  }
}

}  // namespace

// The client's token bucket lives on one core (by address), so the rate is
// exact across cores without a lock: the check is a message to that core
// and back when the session is elsewhere.
void StartEtrnRequest(Core& origin, std::string argument, const IpAddress& client,
                      std::string auth_user, std::function<void(std::string)> reply) {
  ServerContext& context = origin.context();
  // A peer's forwarded ETRN: the first node applied the client's rate limit.
  if (peers::IsPeerClient(context.options.peers, client, auth_user)) {
    ContinueEtrn(origin, std::move(argument), client, auth_user, /*allowed=*/true,
                 /*from_peer=*/true, std::move(reply));
    return;
  }
  Core* owner = &context.core(origin.etrn_limiter().ShardOf(client, context.core_count()));
  if (owner == &origin) {
    bool allowed = origin.etrn_limiter().Allow(client, absl::Now());
    ContinueEtrn(origin, std::move(argument), client, auth_user, allowed, /*from_peer=*/false,
                 std::move(reply));
    return;
  }
  if (origin.peers().empty()) {
    // (With peers the forward waits for the bucket: below, as before.)
    etrn::EtrnPlan plan = etrn::PlanEtrn(origin.table(), argument, client, auth_user,
                                         /*from_peer=*/false);
    if (!plan.refused()) {
      CountWhileLimiting(origin, *owner, std::move(argument), std::move(plan), client,
                         std::move(reply));
      return;
    }
  }
  Core* origin_core = &origin;
  origin.SendTo(*owner, [owner, origin_core, client, argument = std::move(argument),
                         auth_user = std::move(auth_user), reply = std::move(reply)]() mutable {
    bool allowed = owner->etrn_limiter().Allow(client, absl::Now());
    owner->SendTo(*origin_core,
                  [origin_core, client, allowed, argument = std::move(argument),
                   auth_user = std::move(auth_user), reply = std::move(reply)]() mutable {
                    ContinueEtrn(*origin_core, std::move(argument), client, auth_user, allowed,
                                 /*from_peer=*/false, std::move(reply));
                  });
  });
}

}  // namespace etrnd::server
