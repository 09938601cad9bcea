#include "etrnd/server/etrn_service.h"

#include <cstdlib>
#include <memory>

#include "absl/time/clock.h"
#include "etrnd/common/log.h"
#include "etrnd/etrn/etrn_policy.h"
#include "etrnd/etrn/etrn_replies.h"
#include "etrnd/queue/domain_queue_index.h"
#include "etrnd/server/core.h"
#include "etrnd/server/queue_service.h"

namespace etrnd::server {
namespace {

// Gathers the per-core answers of one ETRN; lives on the origin core.
struct EtrnGather {
  std::string as_sent;
  std::string client;
  size_t cores_left = 0;
  size_t messages = 0;
  bool refused_for_resources = false;
  std::function<void(std::string)> reply;
};

void Answer(const EtrnGather& gather) {
  std::string line;
  if (gather.refused_for_resources) {
    line = etrn::ReplyUnableToQueue(gather.as_sent);
  } else if (gather.messages == 0) {
    line = etrn::ReplyNothingWaiting(gather.as_sent);
  } else {
    line = etrn::ReplyStarted(gather.messages, gather.as_sent);
  }
  const std::string code = line.substr(0, 3);
  ETRND_LOG_INFO_EVENT("etrn",
                       {{"client", gather.client},
                        {"argument", gather.as_sent},
                        {"code", std::atoi(code.c_str())},
                        {"count", gather.messages},
                        {"reply", line}},
                       "ETRN %s from %s: %s count=%d", gather.as_sent, gather.client, code,
                       gather.messages);
  gather.reply(std::move(line));
}

// On the origin core, once the client's bucket has answered.
void ContinueEtrn(Core& origin, std::string argument, const IpAddress& client,
                  const std::string& auth_user, bool allowed,
                  std::function<void(std::string)> reply) {
  ServerContext& context = origin.context();
  if (!allowed) {
    std::string line = etrn::ReplyUnableToQueue(argument);
    // A client can send thousands a second: summarised per client.
    std::string client_text = client.ToString();
    ETRND_LOG_WARNING_REPEATED_EVENT(
        "ETRN rate limited (458)", client_text, "etrn",
        {{"client", client_text}, {"argument", argument}, {"code", 458}, {"reply", line}},
        "ETRN %s from %s: 458 rate limited", argument, client_text);
    reply(std::move(line));
    return;
  }
  etrn::EtrnPlan plan = etrn::PlanEtrn(origin.table(), argument, client, auth_user);
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
  // A node lives on one shard; @domain and #queue members are spread over
  // all of them by the domain hash.
  std::vector<size_t> targets;
  if (plan.argument.form == etrn::EtrnForm::kNode) {
    targets.push_back(queue::ShardForDomain(plan.argument.name, context.core_count()));
  } else {
    for (size_t i = 0; i < context.core_count(); ++i) targets.push_back(i);
  }
  gather->cores_left = targets.size();
  auto shared_plan = std::make_shared<const etrn::EtrnPlan>(std::move(plan));
  Core* origin_core = &origin;
  for (size_t target : targets) {
    Core* owner = &context.core(target);
    origin.SendTo(*owner, [owner, origin_core, shared_plan, client, gather] {
      EtrnShardResult result = owner->queue().FlushForEtrn(*shared_plan, client);
      owner->SendTo(*origin_core, [gather, result] {
        gather->messages += result.messages;
        gather->refused_for_resources |= result.refused_for_resources;
        if (--gather->cores_left == 0) Answer(*gather);
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
  Core* owner = &context.core(origin.etrn_limiter().ShardOf(client, context.core_count()));
  if (owner == &origin) {
    bool allowed = origin.etrn_limiter().Allow(client, absl::Now());
    ContinueEtrn(origin, std::move(argument), client, auth_user, allowed, std::move(reply));
    return;
  }
  Core* origin_core = &origin;
  origin.SendTo(*owner, [owner, origin_core, client, argument = std::move(argument),
                         auth_user = std::move(auth_user), reply = std::move(reply)]() mutable {
    bool allowed = owner->etrn_limiter().Allow(client, absl::Now());
    owner->SendTo(*origin_core, [origin_core, client, allowed, argument = std::move(argument),
                                 auth_user = std::move(auth_user),
                                 reply = std::move(reply)]() mutable {
      ContinueEtrn(*origin_core, std::move(argument), client, auth_user, allowed, std::move(reply));
    });
  });
}

}  // namespace etrnd::server
