// The queue index at ISP scale (1e3, 1e5, 1e7 queued messages): insert,
// remove, the ETRN count lookup and the subtree walk must not slow down as the
// queue grows. ETRN @parent's count from the subtree aggregates (CountUnder)
// against the old walk over the parent's subdomains, at 10, 1e3 and 1e5
// subdomains under one parent. Also reports the index's memory per queued
// recipient (counted by a global allocation counter, estimated by the index
// itself, and as the process's RSS growth), and the start-up recovery time
// of a spool of 1e6 small messages (warm page cache).
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "etrnd/common/log.h"
#include "etrnd/queue/domain_queue_index.h"
#include "etrnd/spool/completion_appender.h"
#include "etrnd/spool/segment_appender.h"
#include "etrnd/spool/spool_recovery.h"

// ---- Allocation counter: live heap bytes, as malloc accounts them. ----
namespace {
std::atomic<int64_t> g_live_heap_bytes{0};

void* CountedAlloc(size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  g_live_heap_bytes.fetch_add(static_cast<int64_t>(malloc_usable_size(p)),
                              std::memory_order_relaxed);
  return p;
}
void CountedFree(void* p) {
  if (p == nullptr) return;
  g_live_heap_bytes.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)),
                              std::memory_order_relaxed);
  std::free(p);
}
}  // namespace

void* operator new(size_t size) { return CountedAlloc(size); }
void* operator new[](size_t size) { return CountedAlloc(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p) g_live_heap_bytes.fetch_add(static_cast<int64_t>(malloc_usable_size(p)));
  return p;
}
void* operator new[](size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete[](void* p) noexcept { CountedFree(p); }
void operator delete(void* p, size_t) noexcept { CountedFree(p); }
void operator delete[](void* p, size_t) noexcept { CountedFree(p); }

namespace etrnd::queue {
namespace {

// The process's resident set, from /proc/self/statm (pages).
double ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  return static_cast<double>(resident_pages) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

constexpr size_t kMessagesPerDomain = 100;
constexpr size_t kSubdomainsPerParent = 10;
constexpr size_t kChunk = 1024;  // operations per timed iteration

MessageKey KeyOf(uint64_t message) {
  return MessageKey::FromLocation(
      spool::RecordLocation{0, message / 100000, (message % 100000) * 512, 400});
}

// Deterministic pseudo-random sequence (no shared state between benchmarks).
class Lcg {
 public:
  uint64_t Next(uint64_t bound) {
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    return (state_ >> 33) % bound;
  }

 private:
  uint64_t state_ = 42;
};

// Domains "h<k>.c<g>.test": each parent c<g>.test has kSubdomainsPerParent
// queued subdomains, whatever the queue size.
struct IndexFixture {
  DomainQueueIndex index;
  size_t messages = 0;
  std::vector<std::string> domains;
  std::vector<std::string> parents;
  double allocated_bytes_per_recipient = 0;
  double estimated_bytes_per_recipient = 0;
  double resident_bytes_per_recipient = 0;
  double build_seconds = 0;

  const std::string& DomainOf(uint64_t message) const { return domains[message % domains.size()]; }
};

// Built once per (messages, domains) and kept for the process.
IndexFixture& FixtureFor(size_t messages, size_t domain_count) {
  static std::map<std::pair<size_t, size_t>, std::unique_ptr<IndexFixture>> fixtures;
  std::unique_ptr<IndexFixture>& fixture = fixtures[{messages, domain_count}];
  if (fixture) return *fixture;
  fixture = std::make_unique<IndexFixture>();
  fixture->messages = messages;
  domain_count = std::max(domain_count, kSubdomainsPerParent);
  for (size_t i = 0; i < domain_count; ++i) {
    fixture->domains.push_back(
        absl::StrCat("h", i % kSubdomainsPerParent, ".c", i / kSubdomainsPerParent, ".test"));
  }
  for (size_t g = 0; g < domain_count / kSubdomainsPerParent; ++g) {
    fixture->parents.push_back(absl::StrCat("c", g, ".test"));
  }
  const int64_t heap_before = g_live_heap_bytes.load();
  const double resident_before = ResidentBytes();
  const auto start = std::chrono::steady_clock::now();
  const uint32_t first_recipient[] = {0};
  for (uint64_t m = 0; m < messages; ++m) {
    fixture->index.AddRecipients(fixture->DomainOf(m), KeyOf(m), first_recipient);
  }
  fixture->build_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double recipients = static_cast<double>(fixture->index.queued_recipients_count());
  fixture->allocated_bytes_per_recipient =
      static_cast<double>(g_live_heap_bytes.load() - heap_before) / recipients;
  fixture->estimated_bytes_per_recipient =
      static_cast<double>(fixture->index.MemoryBytes()) / recipients;
  fixture->resident_bytes_per_recipient = (ResidentBytes() - resident_before) / recipients;
  return *fixture;
}

void ReportFixture(benchmark::State& state, const IndexFixture& fixture) {
  state.counters["alloc_B_per_rcpt"] = fixture.allocated_bytes_per_recipient;
  state.counters["est_B_per_rcpt"] = fixture.estimated_bytes_per_recipient;
  state.counters["rss_B_per_rcpt"] = fixture.resident_bytes_per_recipient;
  state.counters["domains"] = static_cast<double>(fixture.index.domains_count());
  state.counters["build_s"] = fixture.build_seconds;
}

// A chunk of operations: which message goes to which domain.
struct Operation {
  const std::string* domain;
  uint64_t message;
};

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Inserts of new messages into existing domains (timed), then their removal
// (not timed) so the index keeps its size.
void BM_IndexInsert(benchmark::State& state) {
  IndexFixture& fixture =
      FixtureFor(static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)));
  Lcg random;
  const uint32_t first_recipient[] = {0};
  std::vector<Operation> chunk(kChunk);
  for (auto _ : state) {
    for (size_t i = 0; i < kChunk; ++i) {
      chunk[i] = {&fixture.domains[random.Next(fixture.domains.size())], fixture.messages + i};
    }
    const auto start = std::chrono::steady_clock::now();
    for (const Operation& op : chunk) {
      fixture.index.AddRecipients(*op.domain, KeyOf(op.message), first_recipient);
    }
    state.SetIterationTime(SecondsSince(start));
    for (const Operation& op : chunk)
      fixture.index.FinishRecipient(*op.domain, KeyOf(op.message), 0);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kChunk));
  ReportFixture(state, fixture);
}

// Finishing queued recipients (timed; the message leaves its domain), then
// queueing them again (not timed).
void BM_IndexRemove(benchmark::State& state) {
  IndexFixture& fixture =
      FixtureFor(static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)));
  Lcg random;
  const uint32_t first_recipient[] = {0};
  const size_t chunk_size = std::min(kChunk, fixture.messages / 2);
  std::vector<Operation> chunk(chunk_size);
  for (auto _ : state) {
    const uint64_t base = random.Next(fixture.messages);
    for (size_t i = 0; i < chunk_size; ++i) {
      const uint64_t m = (base + i) % fixture.messages;  // distinct messages
      chunk[i] = {&fixture.DomainOf(m), m};
    }
    const auto start = std::chrono::steady_clock::now();
    for (const Operation& op : chunk) {
      fixture.index.FinishRecipient(*op.domain, KeyOf(op.message), 0);
    }
    state.SetIterationTime(SecondsSince(start));
    for (const Operation& op : chunk) {
      fixture.index.AddRecipients(*op.domain, KeyOf(op.message), first_recipient);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * chunk_size));
  ReportFixture(state, fixture);
}

// ETRN <node>: the count of one domain.
void BM_CountDomain(benchmark::State& state) {
  IndexFixture& fixture =
      FixtureFor(static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)));
  Lcg random;
  size_t total = 0;
  for (auto _ : state) {
    total += fixture.index.CountDomain(fixture.domains[random.Next(fixture.domains.size())]);
  }
  benchmark::DoNotOptimize(total);
  state.SetItemsProcessed(state.iterations());
  state.counters["avg_count"] =
      static_cast<double>(total) / static_cast<double>(state.iterations());
  ReportFixture(state, fixture);
}

// ETRN @<domain>: the sum over the queued domains under a parent.
void BM_SubtreeLookup(benchmark::State& state) {
  IndexFixture& fixture =
      FixtureFor(static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)));
  Lcg random;
  size_t visited = 0, total = 0;
  for (auto _ : state) {
    fixture.index.ForEachQueuedDomainUnder(fixture.parents[random.Next(fixture.parents.size())],
                                           [&](std::string_view, size_t count) {
                                             ++visited;
                                             total += count;
                                           });
  }
  benchmark::DoNotOptimize(total);
  state.SetItemsProcessed(state.iterations());
  state.counters["domains_per_lookup"] =
      static_cast<double>(visited) / static_cast<double>(state.iterations());
  ReportFixture(state, fixture);
}

// ETRN @parent with `subdomains` queued domains under one parent (one
// message each), among other parents' domains: the aggregate count and the
// walk it replaced.
struct ParentFixture {
  DomainQueueIndex index;
  std::string parent = "big.test";
};

ParentFixture& ParentFixtureFor(size_t subdomains) {
  static std::map<size_t, std::unique_ptr<ParentFixture>> fixtures;
  std::unique_ptr<ParentFixture>& fixture = fixtures[subdomains];
  if (fixture) return *fixture;
  fixture = std::make_unique<ParentFixture>();
  const uint32_t first_recipient[] = {0};
  uint64_t message = 0;
  for (size_t i = 0; i < subdomains; ++i) {
    fixture->index.AddRecipients(absl::StrCat("h", i, ".", fixture->parent), KeyOf(message++),
                                 first_recipient);
    fixture->index.AddRecipients(absl::StrCat("h", i, ".other", i % 100, ".test"), KeyOf(message++),
                                 first_recipient);
  }
  return *fixture;
}

void BM_CountUnder(benchmark::State& state) {
  ParentFixture& fixture = ParentFixtureFor(static_cast<size_t>(state.range(0)));
  uint64_t total = 0;
  for (auto _ : state) total += fixture.index.CountUnder(fixture.parent).messages;
  benchmark::DoNotOptimize(total);
  state.counters["count"] = static_cast<double>(total) / static_cast<double>(state.iterations());
}

void BM_WalkUnder(benchmark::State& state) {
  ParentFixture& fixture = ParentFixtureFor(static_cast<size_t>(state.range(0)));
  uint64_t total = 0;
  for (auto _ : state) {
    fixture.index.ForEachQueuedDomainUnder(fixture.parent,
                                           [&](std::string_view, size_t count) { total += count; });
  }
  benchmark::DoNotOptimize(total);
  state.counters["count"] = static_cast<double>(total) / static_cast<double>(state.iterations());
}

BENCHMARK(BM_CountUnder)->ArgName("subdomains")->Arg(10)->Arg(1000)->Arg(100000)->MinTime(0.2);
BENCHMARK(BM_WalkUnder)->ArgName("subdomains")->Arg(10)->Arg(1000)->Arg(100000)->MinTime(0.2);

constexpr int64_t kSizes[] = {1000, 100000, 10000000};

// Queue sizes with kMessagesPerDomain messages per domain (1e7 = 100k domains).
void QueueSizes(benchmark::internal::Benchmark* benchmark) {
  benchmark->ArgNames({"messages", "domains"});
  for (int64_t size : kSizes) benchmark->Args({size, size / int64_t{kMessagesPerDomain}});
}
// Plus 100k domains holding one message each: compared with the 1e7 run (same
// domains, 100x the messages) it isolates the queue size from cache effects
// of the domain count.
void QueueSizesAndSameDomains(benchmark::internal::Benchmark* benchmark) {
  QueueSizes(benchmark);
  benchmark->Args({100000, 100000});
}

BENCHMARK(BM_IndexInsert)->Apply(QueueSizes)->UseManualTime()->MinTime(0.2);
BENCHMARK(BM_IndexRemove)->Apply(QueueSizes)->UseManualTime()->MinTime(0.2);
BENCHMARK(BM_CountDomain)->Apply(QueueSizesAndSameDomains)->MinTime(0.2);
// ETRN <node> at 1e4 and 1e6 queued (100 per domain); the 1e6 fixture is
// also the memory measurement: 1e6 recipients over 1e4 domains.
BENCHMARK(BM_CountDomain)
    ->ArgNames({"messages", "domains"})
    ->Args({10000, 100})
    ->Args({1000000, 10000})
    ->MinTime(0.2);
BENCHMARK(BM_SubtreeLookup)->Apply(QueueSizesAndSameDomains)->MinTime(0.2);

}  // namespace
}  // namespace etrnd::queue

namespace etrnd::spool {
namespace {

constexpr size_t kRecoveryBodyBytes = 200;
constexpr size_t kWriteBatchMessages = 4096;
constexpr size_t kFinishedEveryNth = 10;  // completions for 10% of messages

// A spool directory of small messages written once per process.
class SpoolFixture {
 public:
  explicit SpoolFixture(size_t messages) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "etrnd-bench-spool-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data()) ? pattern : "";
    AppenderOptions options;
    options.spool_dir = dir_;
    auto segments = SegmentAppender::Open(options);
    auto completions = CompletionAppender::Open(options);
    if (!segments.ok() || !completions.ok()) return;
    SpoolMessage message;
    message.mail_from = "sender@example.org";
    message.recipients = {"someone@h1.c2.test"};
    message.data = std::string(kRecoveryBodyBytes, 'x');
    for (size_t i = 0; i < messages; ++i) {
      message.queue_id = absl::StrCat("Q", i);
      message.arrival_unix_micros = static_cast<int64_t>(i);
      absl::StatusOr<RecordLocation> location = (*segments)->Append(message);
      if (location.ok() && i % kFinishedEveryNth == 0) {
        (*completions)
            ->Append(SpoolCompletion{location->core, location->segment_id, location->offset, 0,
                                     RecipientOutcome::kDelivered})
            .IgnoreError();
      }
      if (i % kWriteBatchMessages == 0) {
        Flush(**segments);
        Flush(**completions);
      }
    }
    Flush(**segments);
    Flush(**completions);
    ::sync();
  }
  ~SpoolFixture() {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  const std::string& dir() const { return dir_; }

 private:
  // Benchmark setup: plain writes; durability is not what is measured here.
  static void Flush(RecordLogAppender& appender) {
    while (std::optional<SpoolBatch> batch = appender.TakeBatch()) {
      const bool written =
          ::pwrite(batch->fd, batch->bytes.data(), batch->bytes.size(),
                   static_cast<off_t>(batch->offset)) == static_cast<ssize_t>(batch->bytes.size());
      if (written) {
        appender.BatchDurable(*batch);
      } else {
        appender.BatchFailed(*batch, errno);
      }
    }
  }

  std::string dir_;
};

void BM_RecoverSpool(benchmark::State& state) {
  SetLogLevel(LogLevel::kWarning);
  static SpoolFixture fixture(static_cast<size_t>(state.range(0)));
  RecoveryStats stats;
  for (auto _ : state) {
    absl::StatusOr<RecoveryResult> result = RecoverSpool(fixture.dir());
    if (!result.ok()) {
      state.SkipWithError(result.status().ToString().c_str());
      return;
    }
    stats = result->stats;
  }
  state.counters["live_messages"] = static_cast<double>(stats.messages);
  state.counters["MB_scanned"] = static_cast<double>(stats.bytes_scanned) / 1e6;
  state.counters["completions"] = static_cast<double>(stats.completions_applied);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * state.range(0)));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * stats.bytes_scanned));
}

BENCHMARK(BM_RecoverSpool)->Arg(1000000)->Iterations(3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace etrnd::spool

BENCHMARK_MAIN();
