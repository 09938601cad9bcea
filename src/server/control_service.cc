#include "etrnd/server/control_service.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control_gather.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/control/control_render.h"
#include "etrnd/control/qshape.h"
#include "etrnd/etrn/etrn_argument.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/queue/domain_queue_index.h"
#include "etrnd/server/control_connection.h"
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

ControlService::ControlService(Core& core, std::vector<std::string> holds)
    : core_(core), holds_(core.reactor(), core.context().options.spool_dir, std::move(holds)) {}

ControlService::~ControlService() = default;

absl::Status ControlService::Listen() {
  const std::string& path = core_.context().options.control_socket;
  return core_.reactor().ListenPath(
      path, 0600, [this](reactor::Reactor&, const SocketAddress&, const SocketAddress&) {
        return std::make_unique<ControlConnection>(*this, core_.reactor());
      });
}

void ControlService::Handle(const control::Request& request, Reply reply) {
  using control::Command;
  switch (request.command) {
    case Command::kQueue:
      return Queue(request.json, std::move(reply));
    case Command::kList:
      return List(request.argument, request.json, std::move(reply));
    case Command::kShow:
      return Show(request.queue_id, request.json, std::move(reply));
    case Command::kFlush:
      return Flush(request.argument, request.json, request.all_nodes, std::move(reply));
    case Command::kHold:
    case Command::kRelease:
      return Hold(request.argument, request.command == Command::kHold, request.json,
                  std::move(reply));
    case Command::kDelete:
      return Delete(request, std::move(reply));
    case Command::kBounce:
      return Bounce(request.queue_id, request.json, std::move(reply));
    case Command::kReload:
      return Reload(request.json, std::move(reply));
    case Command::kStats:
      return Stats(request.json, std::move(reply));
  }
}

void ControlService::Queue(bool json, Reply reply) {
  using Summaries = std::vector<control::DomainSummary>;
  AskCores<Summaries>(
      core_, AllCores(core_),
      [](Core& owner, std::function<void(Summaries)> answer) {
        struct Scan {
          uint64_t cursor = 0;
          absl::Time now = absl::Now();
          absl::flat_hash_map<std::string, control::DomainSummary> by_domain;
        };
        auto scan = std::make_shared<Scan>();
        RunSliced(
            owner,
            [&owner, scan] {
              return owner.queue().ScanQueued(
                  &scan->cursor, kControlSliceEntries, [&](const qmgr::QueuedEntry& entry) {
                    control::DomainSummary& d = scan->by_domain[entry.domain];
                    const int64_t age_s = AgeSeconds(entry.arrival_unix_micros, scan->now);
                    ++d.messages;
                    d.recipients += entry.recipients.size();
                    d.bytes += entry.location.length;
                    d.oldest_age_s = std::max(d.oldest_age_s, age_s);
                    ++d.ages[control::QshapeBucket(absl::Seconds(age_s))];
                  });
            },
            [&owner, scan, answer = std::move(answer)] {
              Summaries summaries;
              summaries.reserve(scan->by_domain.size());
              for (auto& [domain, summary] : scan->by_domain) {
                summary.domain = domain;
                int attempts;
                std::string last_error;
                owner.queue().DescribeSchedule(domain, &summary.state, &summary.next_attempt_s,
                                               &attempts, &last_error);
                summaries.push_back(std::move(summary));
              }
              answer(std::move(summaries));
            });
      },
      [reply = std::move(reply), json](std::vector<Summaries> parts) {
        Summaries all;
        for (Summaries& part : parts) {
          for (auto& summary : part) all.push_back(std::move(summary));
        }
        reply(Ok(control::RenderQueue(std::move(all), json)));
      });
}

void ControlService::List(const std::string& domain, bool json, Reply reply) {
  const bool served = core_.table().Match(domain) != nullptr;
  using Messages = std::vector<control::MessageSummary>;
  AskCores<Messages>(
      core_, OwnerOf(core_, domain),
      [domain](Core& owner, std::function<void(Messages)> answer) {
        struct Scan {
          uint64_t cursor = 0;
          absl::Time now = absl::Now();
          Messages messages;
          std::vector<spool::RecordLocation> locations;
        };
        auto scan = std::make_shared<Scan>();
        RunSliced(
            owner,
            [&owner, scan, domain] {
              return owner.queue().ScanQueued(
                  &scan->cursor, kControlSliceEntries, [&](const qmgr::QueuedEntry& entry) {
                    if (entry.domain != domain) return;
                    control::MessageSummary m;
                    m.id = control::FormatQueueId(entry.queue_id);
                    m.bytes = entry.location.length;
                    m.age_s = AgeSeconds(entry.arrival_unix_micros, scan->now);
                    m.recipients = entry.recipients.size();
                    scan->messages.push_back(std::move(m));
                    scan->locations.push_back(entry.location);
                  });
            },
            [&owner, scan, domain, answer = std::move(answer)]() mutable {
              std::string state, last_error;
              std::optional<int64_t> next;
              int attempts = 0;
              owner.queue().DescribeSchedule(domain, &state, &next, &attempts, &last_error);
              for (control::MessageSummary& m : scan->messages) {
                m.attempts = attempts;
                m.last_error = last_error;
              }
              // The sender is on disk only: a prefix of each record, read
              // through the ring.
              spool::ReadPrefixes(
                  owner.queue().spool_reader(), scan->locations, kListPrefixBytes,
                  [scan,
                   answer = std::move(answer)](std::vector<absl::StatusOr<std::string>> prefixes) {
                    ETRND_CHECK(prefixes.size() == scan->messages.size());
                    for (size_t i = 0; i < prefixes.size(); ++i) {
                      spool::EnvelopePrefix envelope;
                      if (prefixes[i].ok() && spool::ParseEnvelopePrefix(*prefixes[i], &envelope)) {
                        scan->messages[i].sender = envelope.mail_from;
                      }
                    }
                    answer(std::move(scan->messages));
                  });
            });
      },
      [reply = std::move(reply), json, domain, served](std::vector<Messages> parts) {
        Messages& messages = parts.front();
        if (messages.empty() && !served) {
          reply(Refused("unknown domain " + domain + ": not in the domains table, nothing queued",
                        json));
          return;
        }
        std::sort(messages.begin(), messages.end(),
                  [](const auto& a, const auto& b) { return a.id < b.id; });
        reply(Ok(control::RenderList(domain, messages, json)));
      });
}

void ControlService::Show(uint64_t id, bool json, Reply reply) {
  const std::string id_text = control::FormatQueueId(id);
  Core* origin = &core_;
  AskCores<std::vector<FoundEntry>>(
      core_, AllCores(core_),
      [id](Core& owner, std::function<void(std::vector<FoundEntry>)> answer) {
        FindById(owner, id, std::move(answer));
      },
      [origin, id_text, json,
       reply = std::move(reply)](std::vector<std::vector<FoundEntry>> parts) {
        std::vector<FoundEntry> found;
        for (auto& part : parts) {
          for (auto& entry : part) found.push_back(std::move(entry));
        }
        if (found.empty()) return reply(Refused("no queued message with id " + id_text, json));
        absl::flat_hash_set<uint32_t> queued;
        for (const FoundEntry& entry : found) {
          queued.insert(entry.recipient_indexes.begin(), entry.recipient_indexes.end());
        }
        const spool::RecordLocation location = found.front().location;
        origin->queue().spool_reader().Read(
            location, [id_text, json, reply, queued = std::move(queued),
                       location](absl::StatusOr<spool::SpoolMessage> read) {
              if (!read.ok()) {
                return reply(Refused("cannot read message " + id_text + " from the spool", json));
              }
              const spool::SpoolMessage& message = *read;
              control::MessageDetail detail;
              detail.id = message.queue_id;
              detail.sender = message.mail_from;
              detail.arrival_unix_s = message.arrival_unix_micros / 1000000;
              detail.age_s = AgeSeconds(message.arrival_unix_micros, absl::Now());
              detail.bytes = location.length;
              for (uint32_t i = 0; i < message.recipients.size(); ++i) {
                detail.recipients.push_back({message.recipients[i], queued.contains(i)});
              }
              detail.headers = HeaderBlock(message.data);
              reply(Ok(control::RenderShow(detail, json)));
            });
      });
}

void ControlService::Stats(bool json, Reply reply) {
  AskCores<control::CoreStats>(
      core_, AllCores(core_),
      [](Core& owner, std::function<void(control::CoreStats)> answer) {
        control::CoreStats stats;
        stats.core = owner.index();
        stats.sessions = owner.session_count();
        stats.queued_messages = owner.queue().queued_messages();
        stats.queued_recipients = owner.queue().queued_recipients();
        stats.queued_domains = owner.queue().queued_domains();
        stats.flushes_running = owner.queue().flushes_running();
        stats.held_domains = owner.queue().held_count();
        stats.messages_accepted = owner.metrics().messages_accepted_total;
        stats.deliveries_delivered = owner.metrics().deliveries_delivered;
        stats.bounces = owner.metrics().bounces_total;
        answer(stats);
      },
      [json, reply = std::move(reply)](std::vector<control::CoreStats> cores) {
        reply(Ok(control::RenderStats(cores, json)));
      });
}

}  // namespace etrnd::server
