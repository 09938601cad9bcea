// Internal to src/server: the shapes the etrnctl commands share. Each
// command asks some cores (AskCores: a cross-core message there, the answer
// back to the origin), and a core walks its queue in slices (RunSliced), so
// no command ever holds a core for more than one slice.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "etrnd/common/check.h"
#include "etrnd/queue/domain_queue_index.h"
#include "etrnd/server/control_service.h"
#include "etrnd/server/core.h"
#include "etrnd/spool/spool_record.h"

namespace etrnd::server::control_internal {

using Reply = std::function<void(ControlResponse)>;

inline ControlResponse Ok(std::string body) { return ControlResponse{true, "", std::move(body)}; }
ControlResponse Refused(std::string reason, bool json);

// Runs step() on core's thread, one call per loop turn, until it returns
// true; then done(). Other work (SMTP, deliveries) runs between the turns.
void RunSliced(Core& core, std::function<bool()> step, std::function<void()> done);

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

std::vector<size_t> AllCores(Core& core);
std::vector<size_t> OwnerOf(Core& core, const std::string& domain);

// One queued (domain, message) pair found by id on its owner core.
struct FoundEntry {
  std::string domain;
  spool::RecordLocation location;
  std::vector<uint32_t> recipient_indexes;
};

// On owner's thread: every queued pair of message `id` on this core, found
// by a sliced scan.
void FindById(Core& owner, uint64_t id, std::function<void(std::vector<FoundEntry>)> found);

int64_t AgeSeconds(int64_t arrival_unix_micros, absl::Time now);
// The header block of a message (up to its empty line), at most
// kShowHeaderBytesMax.
std::string HeaderBlock(std::string_view data);

}  // namespace etrnd::server::control_internal
