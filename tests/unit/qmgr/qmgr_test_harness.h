// The harness the queue manager's unit tests share: a QueueService run the
// way a core runs it (created, driven and destroyed on its reactor's own
// thread) over a FakeCore, and a loop that waits for a state no callback
// reports. One place builds it so that every test gets the same order of
// construction and destruction and the same bound on how long it waits.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "etrnd/common/log.h"
#include "etrnd/config/domains_table.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/reactor/reactor.h"
#include "fake_core.h"
#include "gtest/gtest.h"
#include "spool_writer.h"

namespace etrnd::qmgr::testing {

// What every test's queue starts from: its spool and the names its bounces
// are written with. A test sets on top what it exercises.
inline QueueOptions BaseQueueOptions(const std::string& spool_dir) {
  QueueOptions options;
  options.spool_dir = spool_dir;
  options.hostname = "mx.test";
  options.postmaster = "postmaster@mx.test";
  return options;
}

// The queue under test and what it runs on, as the test's callbacks get it
// (always on the reactor's thread).
struct QueueOnReactor {
  reactor::Reactor& reactor;
  FakeCore& fake;
  QueueService& queue;

  // Ends the run: the queue first (it starts nothing more), then the loop.
  void Stop() {
    queue.Stop();
    reactor.Stop();
  }
};

// Hands every written message to the queue, as the spool does once a
// message is durable.
inline void QueueWritten(QueueService& queue, const std::vector<WrittenMessage>& written) {
  for (const WrittenMessage& w : written) queue.OnMessageDurable(w.location, w.envelope);
}

namespace harness_detail {

// One PollEveryMillisecond: owned by its own pending timer, so it lives
// exactly as long as it still has a tick to run.
struct MillisecondPoll : std::enable_shared_from_this<MillisecondPoll> {
  MillisecondPoll(reactor::Reactor& reactor, int max_ticks, std::string what,
                  std::function<bool()> done, std::function<void()> then)
      : reactor(reactor),
        max_ticks(max_ticks),
        what(std::move(what)),
        done(std::move(done)),
        then(std::move(then)) {}

  void Tick() {
    ++ticks;
    if (done() || ticks > max_ticks) {
      EXPECT_LE(ticks, max_ticks) << what;
      then();
      return;
    }
    reactor.RunAfter(absl::Milliseconds(1), [self = shared_from_this()] { self->Tick(); });
  }

  reactor::Reactor& reactor;
  const int max_ticks;
  const std::string what;
  const std::function<bool()> done;
  const std::function<void()> then;
  int ticks = 0;
};

}  // namespace harness_detail

// Calls `done` now and then once a millisecond on `reactor` until it says
// true, then runs `then`. Past `max_ticks` calls the test fails with `what`
// and `then` runs all the same, so that a test that never gets where it
// waits for still stops its loop instead of hanging.
inline void PollEveryMillisecond(reactor::Reactor& reactor, int max_ticks, std::string what,
                                 std::function<bool()> done, std::function<void()> then) {
  std::make_shared<harness_detail::MillisecondPoll>(reactor, max_ticks, std::move(what),
                                                    std::move(done), std::move(then))
      ->Tick();
}

// On a thread of its own: a reactor, a FakeCore over `domains_table` and
// `options`, and a QueueService on that core. `prepare_fake` (may be empty)
// sets the fake's routes and answers before the queue exists; `start` is the
// loop's first work, and the loop runs until something calls Stop. Returns
// once the thread has ended.
inline void RunQueueOnReactorThread(const QueueOptions& options, const std::string& domains_table,
                                    const std::function<void(FakeCore&)>& prepare_fake,
                                    const std::function<void(QueueOnReactor&)>& start) {
  SetLogLevel(LogLevel::kWarning);  // one line per outcome otherwise
  std::thread thread([&] {
    auto table = config::DomainsTable::Parse(domains_table, "test");
    ASSERT_TRUE(table.ok()) << table.status();
    // Declared before the reactor: destroyed after it, since closures still
    // pending in the reactor point at them.
    std::unique_ptr<FakeCore> fake;
    std::unique_ptr<QueueService> queue;
    auto created = reactor::Reactor::Create(0, reactor::ReactorOptions{});
    ASSERT_TRUE(created.ok());
    reactor::Reactor& reactor = **created;
    fake = std::make_unique<FakeCore>(reactor, options, *table);
    if (prepare_fake) prepare_fake(*fake);
    queue = std::make_unique<QueueService>(*fake);
    fake->queue = queue.get();
    QueueOnReactor run{reactor, *fake, *queue};
    reactor.Post([&] { start(run); });
    reactor.Run();
  });
  thread.join();
}

}  // namespace etrnd::qmgr::testing
