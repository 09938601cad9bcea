// The etrnctl commands that change something: flush, hold/release, delete,
// bounce, reload. Each is logged with its ids.
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "control_gather.h"
#include "etrnd/common/log.h"
#include "etrnd/control/control_render.h"
#include "etrnd/etrn/etrn_argument.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/server/control_service.h"
#include "etrnd/server/core.h"
#include "etrnd/server/server.h"
#include "etrnd/spool/spool_reader.h"

namespace etrnd::server {

using control_internal::AgeSeconds;
using control_internal::AllCores;
using control_internal::AskCores;
using control_internal::FindById;
using control_internal::FoundEntry;
using control_internal::HeaderBlock;
using control_internal::Ok;
using control_internal::OwnerOf;
using control_internal::Refused;
using control_internal::Reply;
using control_internal::RunSliced;

namespace {

// flush --all-nodes: how long the answer waits for the peers' counts.
constexpr absl::Duration kOperatorPeerWait = absl::Seconds(2);

// Test hook (test_compaction.py): `etrnctl delete <id>` waits this long
// between finding the message and finishing it, so a test can land a
// compaction swap in between. Off unless the variable is set.
absl::Duration DeletePauseFromEnvironment() {
  static const absl::Duration pause = [] {
    const char* value = std::getenv("ETRND_TEST_DELETE_PAUSE_MS");
    return value == nullptr ? absl::ZeroDuration() : absl::Milliseconds(std::atoi(value));
  }();
  return pause;
}

// `answer`, holding the owner's compaction still until it is called and
// dropped: a delete or bounce finds messages in one loop turn and finishes
// them in later ones, and a message moved in between would come back.
std::function<void(int64_t)> PausingRelocations(Core& owner, std::function<void(int64_t)> answer) {
  return [pause = owner.queue().PauseRelocations(), answer = std::move(answer)](int64_t value) {
    answer(value);
  };
}

// peer_messages: the peers' 253 counts (flush --all-nodes), else none.
void FlushDone(const std::string& argument, bool json, size_t messages,
               std::optional<size_t> peer_messages, Reply reply) {
  if (!peer_messages.has_value()) {
    ETRND_LOG_INFO_EVENT("etrnctl",
                         {{"action", "flush"}, {"argument", argument}, {"count", messages}},
                         "etrnctl flush %s: %d messages started", argument, messages);
    return reply(Ok(control::RenderAction(
        {{"argument", argument}, {"messages", static_cast<int64_t>(messages)}},
        absl::StrCat("flush ", argument, ": ", messages, " messages started"), json)));
  }
  const size_t total = messages + *peer_messages;
  ETRND_LOG_INFO_EVENT("etrnctl",
                       {{"action", "flush"},
                        {"argument", argument},
                        {"count", total},
                        {"peer_count", *peer_messages}},
                       "etrnctl flush --all-nodes %s: %d messages started (here %d, peers %d)",
                       argument, total, messages, *peer_messages);
  reply(Ok(control::RenderAction(
      {{"argument", argument},
       {"messages", static_cast<int64_t>(total)},
       {"here", static_cast<int64_t>(messages)},
       {"peers", static_cast<int64_t>(*peer_messages)}},
      absl::StrCat("flush --all-nodes ", argument, ": ", total, " messages started (", messages,
                   " here, ", *peer_messages, " on peers that answered)"),
      json)));
}

}  // namespace

void ControlService::Flush(const std::string& argument, bool json, bool all_nodes, Reply reply) {
  absl::StatusOr<etrn::EtrnArgument> parsed = etrn::ParseEtrnArgument(argument);
  if (!parsed.ok()) return reply(Refused("bad flush argument '" + argument + "'", json));
  const config::DomainsTable& table = core_.table();
  if (parsed->form == etrn::EtrnForm::kNode && table.Match(parsed->name) == nullptr) {
    return reply(Refused("domain " + parsed->name + " is not served (no table entry)", json));
  }
  if (parsed->form == etrn::EtrnForm::kQueue && table.QueueMembers(parsed->name).empty()) {
    return reply(Refused("no queue named " + parsed->name, json));
  }
  auto plan = std::make_shared<etrn::EtrnPlan>();
  plan->argument = *parsed;
  std::vector<size_t> targets =
      parsed->form == etrn::EtrnForm::kNode ? OwnerOf(core_, parsed->name) : AllCores(core_);
  AskCores<qmgr::EtrnShardResult>(
      core_, targets,
      [plan](Core& owner, std::function<void(qmgr::EtrnShardResult)> answer) {
        answer(owner.queue().FlushForEtrn(*plan, IpAddress(), /*operator_request=*/true));
      },
      [this, argument, json, all_nodes,
       reply = std::move(reply)](std::vector<qmgr::EtrnShardResult> results) mutable {
        size_t messages = 0;
        bool held = false, refused = false;
        for (const qmgr::EtrnShardResult& r : results) {
          messages += r.messages;
          held |= r.held;
          refused |= r.refused_for_resources;
        }
        if (refused) {
          std::string why = held ? "held (etrnctl release it first)" : "too many flushes running";
          ETRND_LOG_INFO("etrnctl flush %s: refused: %s", argument, why);
          return reply(Refused("flush " + argument + " refused: " + why, json));
        }
        if (!all_nodes || core_.peers().empty())
          return FlushDone(argument, json, messages, std::nullopt, std::move(reply));
        // The peers flush what they hold (an ETRN from this node is trusted
        // there); their counts are waited for a little longer than a
        // client's, the operator being the one who asked.
        core_.peers().Forward(
            argument, kOperatorPeerWait,
            [argument, json, messages, reply = std::move(reply)](size_t peer_messages) mutable {
              FlushDone(argument, json, messages, peer_messages, std::move(reply));
            });
      });
}

void ControlService::Hold(const std::string& domain, bool held, bool json, Reply reply) {
  const char* verb = held ? "hold" : "release";
  if (!held && !holds_.Contains(domain)) {
    return reply(Refused("domain " + domain + " is not held", json));
  }
  Core* origin = &core_;
  holds_.Change(
      domain, held,
      [origin, domain, held, verb, json, reply = std::move(reply)](absl::Status status) mutable {
        if (!status.ok()) {
          ETRND_LOG_ERROR("etrnctl %s %s: failed: %s", verb, domain, std::string(status.message()));
          return reply(
              Refused(std::string(verb) + " failed: " + std::string(status.message()), json));
        }
        // Durable first, then every core (each filters ETRN and flushes).
        AskCores<int>(
            *origin, AllCores(*origin),
            [domain, held](Core& owner, std::function<void(int)> answer) {
              owner.queue().SetHeld(domain, held);
              answer(0);
            },
            [domain, held, verb, json, reply = std::move(reply)](std::vector<int>) {
              ETRND_LOG_INFO_EVENT("etrnctl", {{"action", verb}, {"domain", domain}},
                                   "etrnctl %s %s: done", verb, domain);
              reply(Ok(control::RenderAction({{"domain", domain}, {"held", held}},
                                             absl::StrCat(verb, " ", domain, ": done"), json)));
            });
      });
}

void ControlService::Delete(const control::Request& request, Reply reply) {
  const bool json = request.json;
  auto finish_all = [](Core& owner, std::vector<FoundEntry> entries, const std::string& what,
                       std::function<void(int64_t)> answer) {
    auto left = std::make_shared<size_t>(1);
    auto count = std::make_shared<int64_t>(0);
    auto settled = [left, count, answer = std::move(answer)] {
      if (--*left == 0) answer(*count);
    };
    for (const FoundEntry& entry : entries) {
      for (uint32_t index : entry.recipient_indexes) {
        ++*left;
        ++*count;
        owner.queue().FinishRecipient(entry.domain, entry.location, index,
                                      spool::RecipientOutcome::kDeleted, settled);
      }
      ETRND_LOG_INFO_EVENT(
          "etrnctl",
          {{"action", "delete"},
           {"id", what},
           {"domain", entry.domain},
           {"count", entry.recipient_indexes.size()}},
          "etrnctl delete %s: %d recipients in %s deleted (segment %d/%d offset %d)", what,
          entry.recipient_indexes.size(), entry.domain, entry.location.core,
          entry.location.segment_id, entry.location.offset);
    }
    settled();
  };
  if (!request.by_domain) {
    const std::string id_text = request.argument;
    const uint64_t id = request.queue_id;
    AskCores<int64_t>(
        core_, AllCores(core_),
        [id, id_text, finish_all](Core& owner, std::function<void(int64_t)> answer) {
          FindById(
              owner, id,
              [&owner, id_text, finish_all, answer = PausingRelocations(owner, std::move(answer))](
                  std::vector<FoundEntry> found) mutable {
                const absl::Duration pause = DeletePauseFromEnvironment();
                if (pause == absl::ZeroDuration() || found.empty()) {
                  return finish_all(owner, std::move(found), id_text, std::move(answer));
                }
                ETRND_LOG_WARNING(
                    "etrnctl delete %s: ETRND_TEST_DELETE_PAUSE_MS: found, "
                    "finishing in %s",
                    id_text, absl::FormatDuration(pause));
                owner.reactor().RunAfter(
                    pause, [&owner, id_text, finish_all, found = std::move(found),
                            answer = std::move(answer)]() mutable {
                      finish_all(owner, std::move(found), id_text, std::move(answer));
                    });
              });
        },
        [id_text, json, reply = std::move(reply)](std::vector<int64_t> counts) {
          int64_t total = 0;
          for (int64_t c : counts) total += c;
          if (total == 0) return reply(Refused("no queued message with id " + id_text, json));
          ETRND_LOG_INFO("etrnctl delete %s: %d recipients deleted", id_text, total);
          reply(Ok(control::RenderAction(
              {{"id", id_text}, {"deleted_recipients", total}},
              absl::StrCat("delete ", id_text, ": ", total, " recipients deleted"), json)));
        });
    return;
  }
  const std::string domain = request.argument;
  AskCores<int64_t>(
      core_, OwnerOf(core_, domain),
      [domain, finish_all](Core& owner, std::function<void(int64_t)> answer) {
        answer = PausingRelocations(owner, std::move(answer));
        struct Scan {
          uint64_t cursor = 0;
          std::vector<FoundEntry> entries;
        };
        auto scan = std::make_shared<Scan>();
        RunSliced(
            owner,
            [&owner, scan, domain] {
              return owner.queue().ScanQueued(
                  &scan->cursor, kControlSliceEntries, [&](const qmgr::QueuedEntry& entry) {
                    if (entry.domain != domain) return;
                    scan->entries.push_back(
                        FoundEntry{entry.domain, entry.location, entry.recipients.ToVector()});
                  });
            },
            [&owner, scan, domain, finish_all, answer = std::move(answer)]() mutable {
              finish_all(owner, std::move(scan->entries), "--domain " + domain, std::move(answer));
            });
      },
      [domain, json, reply = std::move(reply)](std::vector<int64_t> counts) {
        const int64_t total = counts.front();
        if (total == 0) return reply(Refused("nothing queued for " + domain, json));
        ETRND_LOG_INFO("etrnctl delete --domain %s: %d recipients deleted", domain, total);
        reply(Ok(control::RenderAction(
            {{"domain", domain}, {"deleted_recipients", total}},
            absl::StrCat("delete --domain ", domain, ": ", total, " recipients deleted"), json)));
      });
}

void ControlService::Bounce(uint64_t id, bool json, Reply reply) {
  const std::string id_text = control::FormatQueueId(id);
  AskCores<int64_t>(
      core_, AllCores(core_),
      [id, id_text](Core& owner, std::function<void(int64_t)> answer) {
        FindById(owner, id,
                 [&owner, id_text, answer = PausingRelocations(owner, std::move(answer))](
                     std::vector<FoundEntry> found) mutable {
                   if (found.empty()) return answer(0);
                   auto entries = std::make_shared<std::vector<FoundEntry>>(std::move(found));
                   owner.queue().spool_reader().Read(
                       entries->front().location,
                       [&owner, entries, id_text,
                        answer = std::move(answer)](absl::StatusOr<spool::SpoolMessage> read) {
                         if (!read.ok()) {
                           ETRND_LOG_ERROR("etrnctl bounce %s: cannot read the message", id_text);
                           return answer(0);
                         }
                         const spool::SpoolMessage& message = *read;
                         auto left = std::make_shared<size_t>(1);
                         auto count = std::make_shared<int64_t>(0);
                         auto settled = [left, count, answer] {
                           if (--*left == 0) answer(*count);
                         };
                         for (const FoundEntry& entry : *entries) {
                           std::vector<std::pair<uint32_t, std::string>> failures;
                           for (uint32_t index : entry.recipient_indexes) {
                             failures.emplace_back(index,
                                                   "550 5.0.0 Message returned by the postmaster");
                           }
                           ETRND_LOG_INFO_EVENT("etrnctl",
                                                {{"action", "bounce"},
                                                 {"id", id_text},
                                                 {"domain", entry.domain},
                                                 {"count", failures.size()}},
                                                "etrnctl bounce %s: %d recipients in %s bounced",
                                                id_text, failures.size(), entry.domain);
                           *count += static_cast<int64_t>(failures.size());
                           ++*left;
                           owner.queue().QueueBounce(message, entry.location, entry.domain,
                                                     std::move(failures), "", /*expired=*/false,
                                                     settled);
                         }
                         settled();
                       });
                 });
      },
      [id_text, json, reply = std::move(reply)](std::vector<int64_t> counts) {
        int64_t total = 0;
        for (int64_t c : counts) total += c;
        if (total == 0) return reply(Refused("no queued message with id " + id_text, json));
        reply(Ok(control::RenderAction(
            {{"id", id_text}, {"bounced_recipients", total}},
            absl::StrCat("bounce ", id_text, ": ", total, " recipients bounced"), json)));
      });
}

void ControlService::Reload(bool json, Reply reply) {
  // Reading the table is blocking file I/O: a helper thread does it, as the
  // main thread does for SIGHUP, and posts the result back.
  Core* origin = &core_;
  std::thread([origin, json, reply = std::move(reply)] {
    absl::StatusOr<size_t> entries = ReloadDomainsTable(origin->context(), "etrnctl reload");
    origin->reactor().Post([entries, json, reply] {
      if (!entries.ok()) {
        return reply(Refused("reload failed, previous table stays in force: " +
                                 std::string(entries.status().message()),
                             json));
      }
      reply(Ok(control::RenderAction(
          {{"reloaded", true}, {"entries", static_cast<int64_t>(*entries)}},
          absl::StrCat("domains table reloaded: ", *entries, " entries"), json)));
    });
  }).detach();
}

}  // namespace etrnd::server
