// The operator's holds (etrnctl hold/release) on the control core: the set,
// and its file <spool_dir>/holds (control/holds_file.h) rewritten durably
// through the ring (temp file, fdatasync, rename, directory fsync) before a
// change is confirmed. Changes run one at a time, in order.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etrnd/reactor/reactor.h"

namespace etrnd::server {

// Hold/release requests waiting behind the one being written.
inline constexpr size_t kHoldChangesQueuedMax = 64;

class HoldsStore {
 public:
  HoldsStore(reactor::Reactor& reactor, std::string spool_dir, std::vector<std::string> holds);

  // Start-up only (blocking read, before any reactor runs): the holds file,
  // or none when it does not exist.
  static absl::StatusOr<std::vector<std::string>> Load(const std::string& spool_dir);

  // done(status) once the file with the change is durable (the set is
  // unchanged on failure). A change that changes nothing is written too.
  void Change(std::string domain, bool held, std::function<void(absl::Status)> done);
  bool Contains(const std::string& domain) const { return holds_.contains(domain); }
  size_t size() const { return holds_.size(); }

 private:
  struct PendingChange {
    std::string domain;
    bool held;
    std::function<void(absl::Status)> done;
  };
  void StartNext();
  void Finished(absl::Status status);

  reactor::Reactor& reactor_;
  const std::string spool_dir_;
  std::set<std::string> holds_;
  std::deque<PendingChange> pending_;  // front() is being written when writing_
  bool writing_ = false;
  bool previous_held_ = false;  // of the change being written, to undo it
};

}  // namespace etrnd::server
