// etrnctl: the operator's command for a running etrnd (SPEC section 9).
// A pipe to the control socket: sends one request line (control/
// control_request.h), prints the rendered body. Exit 0 on success, 1 when
// the server refused the request, 2 when it could not be reached.
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "etrnd/control/control_render.h"
#include "etrnd/control/control_request.h"
#include "etrnd/control/queue_merge.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUnreachable = 2;
// A listing of a very large queue takes a while; a server that says
// nothing for this long is treated as unreachable.
constexpr int kResponseTimeoutSeconds = 300;
constexpr size_t kReadChunkBytes = 64 * 1024;
constexpr std::string_view kDefaultSpoolDir = "./spool";

constexpr std::string_view kUsage =
    "usage: etrnctl [--socket PATH | --spool_dir DIR] [--nodes SOCKET,...] [--json] COMMAND "
    "[ARGS]\n"
    "commands:\n"
    "  queue [--all-nodes]        per domain: messages, recipients, bytes, ages;\n"
    "                             --all-nodes sums this node and the --nodes sockets\n"
    "  list DOMAIN                the messages queued for DOMAIN\n"
    "  show ID                    one message: envelope and headers\n"
    "  flush [--all-nodes] DOMAIN|@DOMAIN|#Q\n"
    "                             deliver now (like ETRN, without etrn= lists);\n"
    "                             --all-nodes: the node's --peers flush too\n"
    "  hold DOMAIN                deliver nothing of DOMAIN until release\n"
    "  release DOMAIN             end a hold\n"
    "  delete ID | delete --domain DOMAIN\n"
    "  bounce ID                  return the message to its sender\n"
    "  reload                     reload the domains table (as SIGHUP)\n"
    "  stats                      per-core counters\n"
    "exit: 0 success, 1 refused, 2 server not reachable\n";

int Unreachable(const std::string& socket_path, const std::string& why) {
  std::fprintf(stderr, "etrnctl: cannot reach etrnd at %s: %s\n", socket_path.c_str(), why.c_str());
  return kExitUnreachable;
}

bool TakeValue(int argc, char** argv, int* i, std::string_view name, std::string* value) {
  std::string_view arg = argv[*i];
  if (arg == name) {
    if (*i + 1 >= argc) return false;
    *value = argv[++*i];
    return true;
  }
  if (arg.size() > name.size() && arg.substr(0, name.size()) == name && arg[name.size()] == '=') {
    *value = std::string(arg.substr(name.size() + 1));
    return true;
  }
  return false;
}

struct Response {
  int exit = kExitOk;  // kExitOk or kExitRefused (the status line)
  std::string body;
};

// One request and its response over the control socket at socket_path;
// kExitUnreachable (with a message on stderr) when that fails.
int Exchange(const std::string& socket_path, const std::string& line, Response* out) {
  sockaddr_un address;
  std::memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(address.sun_path)) {
    return Unreachable(socket_path, "socket path too long");
  }
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Unreachable(socket_path, std::strerror(errno));
  timeval timeout{kResponseTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    const int error = errno;
    close(fd);
    return Unreachable(socket_path, std::strerror(error));
  }
  for (size_t sent = 0; sent < line.size();) {
    ssize_t n = send(fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      close(fd);
      return Unreachable(socket_path, std::strerror(errno));
    }
    sent += static_cast<size_t>(n);
  }
  std::string response;
  std::vector<char> chunk(kReadChunkBytes);
  while (true) {
    ssize_t n = recv(fd, chunk.data(), chunk.size(), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      close(fd);
      return Unreachable(socket_path, std::strerror(error));
    }
    response.append(chunk.data(), static_cast<size_t>(n));
  }
  close(fd);
  const size_t newline = response.find('\n');
  if (newline == std::string::npos) return Unreachable(socket_path, "no response");
  const std::string status = response.substr(0, newline);
  out->body = response.substr(newline + 1);
  if (status == "OK") {
    out->exit = kExitOk;
    return kExitOk;
  }
  if (status.rfind("ERR ", 0) == 0) {
    std::fprintf(stderr, "etrnctl: %s\n", status.c_str() + 4);
    out->exit = kExitRefused;
    return kExitOk;
  }
  return Unreachable(socket_path, "malformed response");
}

// queue --all-nodes: every node's queue (JSON), summed per domain. A node
// that cannot be reached is named on stderr and the sum of the others is
// still printed, with exit 2.
int QueueAllNodes(const std::string& socket_path, const std::vector<std::string>& nodes,
                  bool json) {
  if (nodes.empty()) {
    std::fprintf(stderr,
                 "etrnctl: queue --all-nodes needs --nodes=SOCKET,... (the other nodes' "
                 "control sockets; see docs/DEPLOYMENT.md)\n");
    return kExitRefused;
  }
  std::vector<std::string> sockets = {socket_path};
  sockets.insert(sockets.end(), nodes.begin(), nodes.end());
  std::vector<std::vector<etrnd::control::DomainSummary>> queues;
  int exit = kExitOk;
  for (const std::string& path : sockets) {
    Response response;
    if (Exchange(path, "json queue\n", &response) != kExitOk) {
      exit = kExitUnreachable;
      continue;
    }
    auto rows = etrnd::control::ParseQueueJson(response.body);
    if (response.exit != kExitOk || !rows.ok()) {
      std::fprintf(stderr, "etrnctl: %s: unexpected queue response\n", path.c_str());
      exit = kExitUnreachable;
      continue;
    }
    queues.push_back(*std::move(rows));
  }
  if (queues.empty()) return kExitUnreachable;
  const std::string body = etrnd::control::RenderQueue(etrnd::control::MergeQueues(queues), json);
  std::fwrite(body.data(), 1, body.size(), stdout);
  return exit;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket_path;
  std::string spool_dir(kDefaultSpoolDir);
  bool json = false;
  std::string nodes_text;
  std::vector<std::string> nodes;  // --nodes: other nodes' control sockets
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (words.empty() && TakeValue(argc, argv, &i, "--socket", &socket_path)) continue;
    if (words.empty() && TakeValue(argc, argv, &i, "--spool_dir", &spool_dir)) continue;
    if (words.empty() && TakeValue(argc, argv, &i, "--nodes", &nodes_text)) {
      for (std::string_view part = nodes_text; !part.empty();) {
        const size_t comma = std::min(part.find(','), part.size());
        if (comma > 0) nodes.emplace_back(part.substr(0, comma));
        part.remove_prefix(std::min(comma + 1, part.size()));
      }
      continue;
    }
    if (arg == "--json") {
      json = true;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage.data(), stdout);
      return kExitOk;
    } else if (words.empty() && arg.size() > 1 && arg[0] == '-') {
      std::fprintf(stderr, "etrnctl: unknown option %s\n%s", argv[i], kUsage.data());
      return kExitRefused;
    } else {
      words.emplace_back(arg);
    }
  }
  if (words.empty()) {
    std::fputs(kUsage.data(), stderr);
    return kExitRefused;
  }
  if (socket_path.empty()) socket_path = spool_dir + "/control.sock";
  auto line = etrnd::control::FormatRequest(json, words);
  if (!line.ok()) {
    std::fprintf(stderr, "etrnctl: %s\n", std::string(line.status().message()).c_str());
    return kExitRefused;
  }

  if (!words.empty() && words[0] == "queue" &&
      std::find(words.begin(), words.end(), "--all-nodes") != words.end()) {
    if (words.size() != 2) {
      std::fprintf(stderr, "etrnctl: usage: queue --all-nodes\n");
      return kExitRefused;
    }
    return QueueAllNodes(socket_path, nodes, json);
  }
  Response response;
  if (int exit = Exchange(socket_path, *line, &response); exit != kExitOk) return exit;
  std::fwrite(response.body.data(), 1, response.body.size(), stdout);
  return response.exit;
}
