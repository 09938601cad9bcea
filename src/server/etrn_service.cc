#include "etrnd/server/etrn_service.h"

#include <memory>
#include <mutex>

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
  ETRND_LOG_INFO("ETRN %s from %s: %s", gather.as_sent, gather.client,
                 line.substr(0, 3) + " count=" + std::to_string(gather.messages));
  gather.reply(std::move(line));
}

}  // namespace

void StartEtrnRequest(Core& origin, std::string argument, const IpAddress& client,
                      std::function<void(std::string)> reply) {
  ServerContext& context = origin.context();
  bool allowed;
  {
    std::lock_guard<std::mutex> lock(context.etrn_limiter_mutex);
    allowed = context.etrn_limiter.Allow(client, absl::Now());
  }
  if (!allowed) {
    std::string line = etrn::ReplyUnableToQueue(argument);
    // A client can send thousands a second: summarised per client.
    std::string client_text = client.ToString();
    ETRND_LOG_WARNING_REPEATED("ETRN rate limited (458)", client_text,
                               "ETRN %s from %s: 458 rate limited", argument, client_text);
    reply(std::move(line));
    return;
  }
  etrn::EtrnPlan plan = etrn::PlanEtrn(origin.table(), argument, client);
  if (plan.refused()) {
    std::string client_text = client.ToString();
    ETRND_LOG_INFO_REPEATED("ETRN refused", client_text, "ETRN %s from %s: %s", argument,
                            client_text, *plan.reply);
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
    owner->reactor().Post([owner, origin_core, shared_plan, client, gather] {
      EtrnShardResult result = owner->queue().FlushForEtrn(*shared_plan, client);
      origin_core->reactor().Post([gather, result] {
        gather->messages += result.messages;
        gather->refused_for_resources |= result.refused_for_resources;
        if (--gather->cores_left == 0) Answer(*gather);
      });
    });
  }
}

}  // namespace etrnd::server
