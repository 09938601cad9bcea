// A real reactor whose loop runs on its own thread, for tests that talk to it
// from outside. Set-up runs on the loop's thread (the ring is
// IORING_SETUP_SINGLE_ISSUER); Join() and the destructor abort every
// connection and stop the loop.
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "etrnd/reactor/reactor.h"

namespace etrnd::reactor {

class ReactorOnThread {
 public:
  // setup: on the loop's thread before Run(); false: it failed, and
  // reactor() is null.
  explicit ReactorOnThread(std::function<bool(Reactor&)> setup = nullptr,
                           const ReactorOptions& options = ReactorOptions{}) {
    std::promise<Reactor*> ready;
    auto future = ready.get_future();
    thread_ = std::thread([this, &ready, &options, setup = std::move(setup)] {
      auto created = Reactor::Create(0, options);
      if (!created.ok()) {
        ready.set_value(nullptr);
        return;
      }
      reactor_ = std::move(*created);
      if (setup && !setup(*reactor_)) {
        ready.set_value(nullptr);
        return;
      }
      listening_ = reactor_->ListeningAddresses();  // read here: the loop's own
      ready.set_value(reactor_.get());
      reactor_->Run();
    });
    reactor_raw_ = future.get();
  }
  ~ReactorOnThread() { Join(); }

  Reactor* reactor() const { return reactor_raw_; }
  // The first address set-up listened on.
  SocketAddress address() const { return listening_.at(0); }

  // Aborts every connection, stops the loop and waits for its thread.
  void Join() {
    if (!thread_.joinable()) return;
    if (reactor_raw_ != nullptr) {
      reactor_raw_->Post(
          [r = reactor_raw_] { r->ForEachConnection([](Connection& c) { c.Abort(); }); });
      reactor_raw_->Stop();
    }
    thread_.join();
  }

  // Runs fn on the loop's thread and waits for it.
  void RunSync(const std::function<void()>& fn) {
    std::promise<void> done;
    reactor_raw_->Post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  std::vector<SocketAddress> listening_;
  std::thread thread_;
  std::unique_ptr<Reactor> reactor_;  // destroyed here, after the join
  Reactor* reactor_raw_ = nullptr;
};

// A set-up step: listens on 127.0.0.1 at an ephemeral port.
inline bool ListenOnLoopback(Reactor& reactor, Reactor::HandlerFactory factory) {
  return reactor.Listen(*SocketAddress::Parse("127.0.0.1:0"), std::move(factory)).ok();
}

}  // namespace etrnd::reactor
