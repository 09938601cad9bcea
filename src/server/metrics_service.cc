#include "etrnd/server/metrics_service.h"

#include <filesystem>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/metrics/metrics_endpoint.h"
#include "etrnd/metrics/registry.h"
#include "etrnd/metrics/text_format.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/server/core.h"
#include "etrnd/server/server_context.h"
#include "etrnd/spool/spool_files.h"

namespace etrnd::server {
namespace {

// The snapshots of one scrape; lives on the origin core.
struct Gather {
  std::vector<metrics::CoreSnapshot> snapshots;
  size_t cores_left = 0;
  std::function<void(std::string)> done;
};

std::string Render(const ServerContext& context, const Gather& gather) {
  metrics::Registry registry;
  metrics::DeclareEtrndMetrics(&registry);
  for (const metrics::CoreSnapshot& snapshot : gather.snapshots) {
    metrics::AddCoreSnapshot(snapshot, &registry);
  }
  metrics::AddSpoolBytes(context.spool_bytes.load(std::memory_order_relaxed), &registry);
  return metrics::RenderText(registry);
}

uint64_t SpoolBytesOnDisk(const std::string& spool_dir) {
  uint64_t total = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(spool_dir, error)) {
    if (!spool::ParseSpoolFileName(entry.path().filename().string()).has_value()) continue;
    std::error_code size_error;
    uint64_t size = entry.file_size(size_error);  // a file unlinked meanwhile: skipped
    if (!size_error) total += size;
  }
  return total;
}

}  // namespace

absl::Status StartMetricsEndpoint(Core& core) {
  const std::optional<SocketAddress>& address = core.context().options.metrics_listen;
  ETRND_CHECK(address.has_value());
  return metrics::ListenMetrics(core.reactor(), *address,
                                [&core](auto done) { GatherMetrics(core, std::move(done)); });
}

metrics::CoreSnapshot SnapshotCore(Core& core) {
  metrics::CoreSnapshot snapshot;
  snapshot.core = core.index();
  snapshot.metrics = core.metrics();
  const peers::FanoutCounters& peer = core.peers().counters();
  snapshot.metrics.peer_etrn_in_time = peer.in_time;
  snapshot.metrics.peer_etrn_late = peer.late;
  snapshot.metrics.peer_etrn_connecting = peer.connecting;
  snapshot.metrics.peer_etrn_down = peer.down;
  snapshot.metrics.peer_etrn_dropped = peer.dropped;
  snapshot.gauges.queued_messages = core.queue().queued_messages();
  snapshot.gauges.queued_recipients = core.queue().queued_recipients();
  snapshot.gauges.queued_domains = core.queue().queued_domains();
  snapshot.gauges.open_connections = core.session_count();
  return snapshot;
}

void GatherMetrics(Core& origin, std::function<void(std::string)> done) {
  ServerContext& context = origin.context();
  auto gather = std::make_shared<Gather>();
  gather->snapshots.resize(context.core_count());
  gather->cores_left = context.core_count();
  gather->done = std::move(done);
  Core* origin_core = &origin;
  for (size_t i = 0; i < context.core_count(); ++i) {
    Core* owner = &context.core(i);
    owner->reactor().Post([owner, origin_core, gather, i] {
      // Taken on the owning core: its numbers are never read elsewhere.
      auto snapshot = std::make_shared<metrics::CoreSnapshot>(SnapshotCore(*owner));
      origin_core->reactor().Post([origin_core, gather, snapshot, i] {
        ETRND_CHECK(gather->cores_left > 0);
        gather->snapshots[i] = std::move(*snapshot);
        if (--gather->cores_left == 0) gather->done(Render(origin_core->context(), *gather));
      });
    });
  }
}

void StartSpoolBytesSampler(ServerContext& context) {
  // Detached: it only reads the directory, and the process ends with _Exit.
  std::thread([&context] {
    while (!context.shutting_down.load()) {
      context.spool_bytes.store(SpoolBytesOnDisk(context.options.spool_dir),
                                std::memory_order_relaxed);
      absl::SleepFor(kSpoolBytesSampleInterval);
    }
  }).detach();
}

}  // namespace etrnd::server
