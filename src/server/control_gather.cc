#include "control_gather.h"

#include <algorithm>
#include <utility>

#include "etrnd/control/control_render.h"
#include "etrnd/qmgr/queue_service.h"

namespace etrnd::server::control_internal {

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

std::vector<size_t> AllCores(Core& core) {
  std::vector<size_t> all(core.context().core_count());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  return all;
}

std::vector<size_t> OwnerOf(Core& core, const std::string& domain) {
  return {queue::ShardForDomain(domain, core.context().core_count())};
}

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
            &scan->cursor, kControlSliceEntries, [&](const qmgr::QueuedEntry& entry) {
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

}  // namespace etrnd::server::control_internal
