// etrnctl's side in the server: the control socket (--control_socket, a
// Unix socket on core 0, mode 0600) and the commands of control/. Core 0
// parses the request and asks the owner cores, which answer from their own
// queue shard in slices of kControlSliceEntries per loop turn (continuing
// with a Post to themselves, so a core never stops serving SMTP for a big
// queue); core 0 gathers the answers, renders them and replies.
//
// Finding a message by id: each core's arrival list keeps the 8-byte
// compact id of every queued (domain, message) pair; `show`, `delete ID`
// and `bounce ID` search every core's list in slices. That costs a scan of
// the queue per command, not memory: no id -> location map is kept.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "etrnd/control/control_request.h"
#include "etrnd/server/holds_store.h"

namespace etrnd::server {

class Core;

// A client must send its request line within this long.
inline constexpr absl::Duration kControlRequestTimeout = absl::Seconds(10);
// Control connections open at once; more get "ERR busy".
inline constexpr size_t kControlConnectionsMax = 16;
// Queue entries a core visits per loop turn for one command.
inline constexpr size_t kControlSliceEntries = 1000;
// Bytes read per message for `list` (record header, id, sender).
inline constexpr size_t kListPrefixBytes = 1024;
// `show` prints at most this much of a message's header block.
inline constexpr size_t kShowHeaderBytesMax = 64 * 1024;

struct ControlResponse {
  bool ok = true;
  std::string reason;  // when !ok: the ERR line's text
  std::string body;
};

class ControlService {
 public:
  ControlService(Core& core, std::vector<std::string> holds);
  ~ControlService();

  // On core 0's thread before Run(): binds options.control_socket.
  absl::Status Listen();
  // Runs the request; reply runs on core 0's thread.
  void Handle(const control::Request& request, std::function<void(ControlResponse)> reply);

  size_t connections = 0;  // open control connections (ControlConnection)

 private:
  void Queue(bool json, std::function<void(ControlResponse)> reply);
  void List(const std::string& domain, bool json, std::function<void(ControlResponse)> reply);
  void Show(uint64_t id, bool json, std::function<void(ControlResponse)> reply);
  // all_nodes: the --peers nodes get the ETRN too (control_actions.cc).
  void Flush(const std::string& argument, bool json, bool all_nodes,
             std::function<void(ControlResponse)> reply);
  void Hold(const std::string& domain, bool held, bool json,
            std::function<void(ControlResponse)> reply);
  void Delete(const control::Request& request, std::function<void(ControlResponse)> reply);
  void Bounce(uint64_t id, bool json, std::function<void(ControlResponse)> reply);
  void Reload(bool json, std::function<void(ControlResponse)> reply);
  void Stats(bool json, std::function<void(ControlResponse)> reply);

  Core& core_;
  HoldsStore holds_;
};

}  // namespace etrnd::server
