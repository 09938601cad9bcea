#include "etrnd/server/control_service.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/control/control_render.h"
#include "etrnd/control/qshape.h"
#include "etrnd/etrn/etrn_argument.h"
#include "etrnd/queue/domain_queue_index.h"
#include "etrnd/server/control_connection.h"
#include "etrnd/server/core.h"
#include "etrnd/server/queue_service.h"
#include "etrnd/server/server.h"
#include "etrnd/server/spool_ring_reader.h"

namespace etrnd::server {
namespace {

using Reply = std::function<void(ControlResponse)>;

ControlResponse Ok(std::string body) { return ControlResponse{true, "", std::move(body)}; }
ControlResponse Refused(std::string reason, bool json) {
  std::string body = control::RenderError(reason, json);
  return ControlResponse{false, std::move(reason), std::move(body)};
}

// Runs step() on core's thread, one call per loop turn, until it returns
// true; then done(). Other work (SMTP, deliveries) runs between the turns.
void RunSliced(Core& core, std::function<bool()> step, std::function<void()> done) {
  if (step()) {
    done();
    return;
  }
  Core* owner = &core;
  core.reactor().Post([owner, step = std::move(step), done = std::move(done)]() mutable {
    RunSliced(*owner, std::move(step), std::move(done));
  });
}

// Runs work(owner, answer) on each target core; answer(value) must be
// called on the owner's thread. done(values) runs on origin's thread once
// all have answered, values in target order.
template <typename T>
void AskCores(Core& origin, const std::vector<size_t>& targets,
              std::function<void(Core& owner, std::function<void(T)> answer)> work,
              std::function<void(std::vector<T>)> done) {
  struct Gather {
    std::vector<T> values;
    size_t left = 0;
    std::function<void(std::vector<T>)> done;
  };
  ETRND_CHECK(!targets.empty());
  auto gather = std::make_shared<Gather>();
  gather->values.resize(targets.size());
  gather->left = targets.size();
  gather->done = std::move(done);
  auto shared_work = std::make_shared<decltype(work)>(std::move(work));
  Core* origin_core = &origin;
  for (size_t i = 0; i < targets.size(); ++i) {
    Core* owner = &origin.context().core(targets[i]);
    origin.SendTo(*owner, [owner, origin_core, gather, shared_work, i] {
      (*shared_work)(*owner, [owner, origin_core, gather, i](T value) {
        auto shared_value = std::make_shared<T>(std::move(value));
        owner->SendTo(*origin_core, [gather, i, shared_value] {
          ETRND_CHECK(gather->left > 0);
          gather->values[i] = std::move(*shared_value);
          if (--gather->left == 0) gather->done(std::move(gather->values));
        });
      });
    });
  }
}

std::vector<size_t> AllCores(Core& core) {
  std::vector<size_t> all(core.context().core_count());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  return all;
}

std::vector<size_t> OwnerOf(Core& core, const std::string& domain) {
  return {queue::ShardForDomain(domain, core.context().core_count())};
}

// One queued (domain, message) pair found by id on its owner core.
struct FoundEntry {
  std::string domain;
  spool::RecordLocation location;
  std::vector<uint32_t> recipient_indexes;
};

// On owner's thread: every queued pair of message `id` on this core, found
// by a sliced scan.
void FindById(Core& owner, uint64_t id, std::function<void(std::vector<FoundEntry>)> found) {
  struct Scan {
    uint64_t cursor = 0;
    std::vector<FoundEntry> entries;
  };
  auto scan = std::make_shared<Scan>();
  RunSliced(
      owner,
      [&owner, scan, id] {
        return owner.queue().ScanQueued(
            &scan->cursor, kControlSliceEntries, [&](const QueuedEntry& entry) {
              if (entry.queue_id != id) return;
              scan->entries.push_back(
                  FoundEntry{entry.domain, entry.location, entry.recipients.ToVector()});
            });
      },
      [scan, found = std::move(found)] { found(std::move(scan->entries)); });
}

int64_t AgeSeconds(int64_t arrival_unix_micros, absl::Time now) {
  return std::max<int64_t>(0,
                           absl::ToInt64Seconds(now - absl::FromUnixMicros(arrival_unix_micros)));
}

std::string HeaderBlock(std::string_view data) {
  size_t end = data.find("\r\n\r\n");
  end = end == std::string_view::npos ? data.size() : end + 2;
  return std::string(data.substr(0, std::min(end, kShowHeaderBytesMax)));
}

}  // namespace

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
      return Flush(request.argument, request.json, std::move(reply));
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
                  &scan->cursor, kControlSliceEntries, [&](const QueuedEntry& entry) {
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
                  &scan->cursor, kControlSliceEntries, [&](const QueuedEntry& entry) {
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
              ReadSpoolRecords(
                  owner.reactor(), owner.context().options.spool_dir, scan->locations,
                  kListPrefixBytes,
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
        ReadSpoolRecords(
            origin->reactor(), origin->context().options.spool_dir, {location}, 0,
            [id_text, json, reply, queued = std::move(queued),
             location](std::vector<absl::StatusOr<std::string>> records) {
              spool::SpoolMessage message;
              size_t consumed = 0;
              if (!records[0].ok() || spool::DecodeMessage(*records[0], &consumed, &message) !=
                                          spool::DecodeStatus::kOk) {
                return reply(Refused("cannot read message " + id_text + " from the spool", json));
              }
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

void ControlService::Flush(const std::string& argument, bool json, Reply reply) {
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
  AskCores<EtrnShardResult>(
      core_, targets,
      [plan](Core& owner, std::function<void(EtrnShardResult)> answer) {
        answer(owner.queue().FlushForEtrn(*plan, IpAddress(), /*operator_request=*/true));
      },
      [argument, json, reply = std::move(reply)](std::vector<EtrnShardResult> results) {
        size_t messages = 0;
        bool held = false, refused = false;
        for (const EtrnShardResult& r : results) {
          messages += r.messages;
          held |= r.held;
          refused |= r.refused_for_resources;
        }
        if (refused) {
          std::string why = held ? "held (etrnctl release it first)" : "too many flushes running";
          ETRND_LOG_INFO("etrnctl flush %s: refused: %s", argument, why);
          return reply(Refused("flush " + argument + " refused: " + why, json));
        }
        ETRND_LOG_INFO("etrnctl flush %s: %d messages started", argument, messages);
        reply(Ok(control::RenderAction(
            {{"argument", argument}, {"messages", static_cast<int64_t>(messages)}},
            absl::StrCat("flush ", argument, ": ", messages, " messages started"), json)));
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
              ETRND_LOG_INFO("etrnctl %s %s: done", verb, domain);
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
      ETRND_LOG_INFO("etrnctl delete %s: %d recipients in %s deleted (segment %d/%d offset %d)",
                     what, entry.recipient_indexes.size(), entry.domain, entry.location.core,
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
          FindById(owner, id,
                   [&owner, id_text, finish_all,
                    answer = std::move(answer)](std::vector<FoundEntry> found) mutable {
                     finish_all(owner, std::move(found), id_text, std::move(answer));
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
        struct Scan {
          uint64_t cursor = 0;
          std::vector<FoundEntry> entries;
        };
        auto scan = std::make_shared<Scan>();
        RunSliced(
            owner,
            [&owner, scan, domain] {
              return owner.queue().ScanQueued(
                  &scan->cursor, kControlSliceEntries, [&](const QueuedEntry& entry) {
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
        FindById(
            owner, id,
            [&owner, id_text, answer = std::move(answer)](std::vector<FoundEntry> found) mutable {
              if (found.empty()) return answer(0);
              auto entries = std::make_shared<std::vector<FoundEntry>>(std::move(found));
              ReadSpoolRecords(
                  owner.reactor(), owner.context().options.spool_dir, {entries->front().location},
                  0,
                  [&owner, entries, id_text,
                   answer = std::move(answer)](std::vector<absl::StatusOr<std::string>> records) {
                    spool::SpoolMessage message;
                    size_t consumed = 0;
                    if (!records[0].ok() ||
                        spool::DecodeMessage(*records[0], &consumed, &message) !=
                            spool::DecodeStatus::kOk) {
                      ETRND_LOG_ERROR("etrnctl bounce %s: cannot read the message", id_text);
                      return answer(0);
                    }
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
                      ETRND_LOG_INFO("etrnctl bounce %s: %d recipients in %s bounced", id_text,
                                     failures.size(), entry.domain);
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
