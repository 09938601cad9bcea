// Reading N message records back: through a core's ring (SpoolReader, reads
// batched in flight) against the blocking ReadMessage (open + pread + close
// per message). Cold cache when run as root (drop_caches before each
// iteration), warm otherwise too.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/spool/segment_appender.h"
#include "etrnd/spool/spool_reader.h"
#include "etrnd/spool/spool_recovery.h"

namespace etrnd::spool {
namespace {

constexpr int kMessages = 2000;
constexpr size_t kBodyBytes = 4096;

struct Spool {
  std::string dir;
  std::vector<RecordLocation> locations;
};

const Spool& TheSpool() {
  static const Spool* spool = [] {
    auto* s = new Spool;
    s->dir = (std::filesystem::temp_directory_path() /
              ("etrnd-reader-bench-" + std::to_string(getpid())))
                 .string();
    std::filesystem::create_directories(s->dir);
    AppenderOptions options;
    options.spool_dir = s->dir;
    options.file_bytes_max = 1 << 20;  // several segments
    auto appender = SegmentAppender::Open(options);
    for (int i = 0; i < kMessages; ++i) {
      SpoolMessage message;
      message.queue_id = "Q" + std::to_string(i);
      message.mail_from = "a@example.org";
      message.recipients = {"b@example.com"};
      message.data = std::string(kBodyBytes, 'x');
      s->locations.push_back(*(*appender)->Append(message));
      auto batch = (*appender)->TakeBatch();
      if (::pwrite(batch->fd, batch->bytes.data(), batch->bytes.size(),
                   static_cast<off_t>(batch->offset)) < 0) {
        std::abort();
      }
      (*appender)->BatchDurable(*batch);
    }
    ::sync();
    return s;
  }();
  return *spool;
}

void DropCaches() {
  FILE* f = std::fopen("/proc/sys/vm/drop_caches", "w");
  if (f == nullptr) return;
  std::fputs("1", f);
  std::fclose(f);
}

void BM_ReadMessageBlocking(benchmark::State& state) {
  const Spool& spool = TheSpool();
  const bool cold = state.range(0) != 0;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      DropCaches();
      state.ResumeTiming();
    }
    for (const RecordLocation& location : spool.locations) {
      auto message = ReadMessage(spool.dir, location);
      benchmark::DoNotOptimize(message);
    }
  }
  state.SetItemsProcessed(state.iterations() * kMessages);
}

void BM_SpoolReaderRing(benchmark::State& state) {
  const Spool& spool = TheSpool();
  const bool cold = state.range(0) != 0;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      DropCaches();
      state.ResumeTiming();
    }
    auto r = std::move(*reactor::Reactor::Create(0, reactor::ReactorOptions{}));
    reactor::Reactor* rp = r.get();
    SpoolReader reader(*rp, spool.dir);
    size_t left = spool.locations.size();
    rp->Post([&] {
      for (const RecordLocation& location : spool.locations) {
        reader.Read(location, [&](absl::StatusOr<SpoolMessage> message) {
          benchmark::DoNotOptimize(message);
          if (--left == 0) {
            reader.Shutdown();
            rp->Stop();
          }
        });
      }
    });
    rp->Run();
  }
  state.SetItemsProcessed(state.iterations() * kMessages);
}

BENCHMARK(BM_ReadMessageBlocking)->Arg(0)->Arg(1)->ArgName("cold")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SpoolReaderRing)->Arg(0)->Arg(1)->ArgName("cold")->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace etrnd::spool

BENCHMARK_MAIN();
