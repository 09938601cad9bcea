#include "etrnd/control/control_request.h"

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "etrnd/common/strings.h"
#include "etrnd/config/domain_name.h"

namespace etrnd::control {
namespace {

constexpr size_t kQueueIdDigits = 16;
// Words of a request: format, command, at most two arguments.
constexpr size_t kRequestWordsMax = 4;

struct CommandName {
  std::string_view name;
  Command command;
};
constexpr CommandName kCommands[] = {
    {"queue", Command::kQueue},   {"list", Command::kList},     {"show", Command::kShow},
    {"flush", Command::kFlush},   {"hold", Command::kHold},     {"release", Command::kRelease},
    {"delete", Command::kDelete}, {"bounce", Command::kBounce}, {"reload", Command::kReload},
    {"stats", Command::kStats},
};

absl::StatusOr<std::string> Domain(std::string_view text) {
  std::string domain = config::NormalizeDomain(text);
  if (const char* problem = config::DomainNameProblem(domain, 2); problem != nullptr) {
    return absl::InvalidArgumentError("bad domain '" + std::string(text) + "': " + problem);
  }
  return domain;
}

absl::Status Id(std::string_view text, Request* request) {
  std::optional<uint64_t> id = ParseQueueId(text);
  if (!id.has_value()) {
    return absl::InvalidArgumentError("bad message id '" + std::string(text) +
                                      "' (16 hex digits, as in 'queued as ID')");
  }
  request->queue_id = *id;
  request->argument = FormatQueueId(*id);
  return absl::OkStatus();
}

}  // namespace

std::optional<uint64_t> ParseQueueId(std::string_view text) {
  if (text.size() != kQueueIdDigits) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  return value;
}

std::string FormatQueueId(uint64_t id) { return absl::StrFormat("%016X", id); }

absl::StatusOr<Request> ParseRequest(std::string_view line) {
  if (line.size() >= kRequestBytesMax) return absl::InvalidArgumentError("request too long");
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string_view> words;
  for (absl::string_view word : absl::StrSplit(AsAbsl(line), ' ', absl::SkipEmpty())) {
    words.push_back(AsStd(word));
  }
  if (words.size() < 2) return absl::InvalidArgumentError("empty request");
  if (words.size() > kRequestWordsMax) return absl::InvalidArgumentError("too many arguments");
  Request request;
  if (words[0] == "json") {
    request.json = true;
  } else if (words[0] != "text") {
    return absl::InvalidArgumentError("bad request format '" + std::string(words[0]) + "'");
  }
  const CommandName* found = nullptr;
  for (const CommandName& candidate : kCommands) {
    if (candidate.name == words[1]) found = &candidate;
  }
  if (found == nullptr) {
    return absl::InvalidArgumentError("unknown command '" + std::string(words[1]) + "'");
  }
  request.command = found->command;
  std::vector<std::string_view> args(words.begin() + 2, words.end());
  const std::string name(found->name);
  auto want = [&](size_t count, std::string_view usage) -> absl::Status {
    if (args.size() != count) {
      return absl::InvalidArgumentError("usage: " + name + (usage.empty() ? "" : " ") +
                                        std::string(usage));
    }
    return absl::OkStatus();
  };
  switch (request.command) {
    case Command::kQueue:
    case Command::kReload:
    case Command::kStats:
      if (absl::Status s = want(0, ""); !s.ok()) return s;
      break;
    case Command::kList:
    case Command::kHold:
    case Command::kRelease: {
      if (absl::Status s = want(1, "DOMAIN"); !s.ok()) return s;
      absl::StatusOr<std::string> domain = Domain(args[0]);
      if (!domain.ok()) return domain.status();
      request.argument = *domain;
      break;
    }
    case Command::kShow:
    case Command::kBounce:
      if (absl::Status s = want(1, "ID"); !s.ok()) return s;
      if (absl::Status s = Id(args[0], &request); !s.ok()) return s;
      break;
    case Command::kFlush:
      // --all-nodes: the --peers nodes flush too (the node sends them ETRN).
      if (args.size() == 2 && args[0] == "--all-nodes") {
        request.all_nodes = true;
        args.erase(args.begin());
      }
      if (absl::Status s = want(1, "[--all-nodes] DOMAIN|@DOMAIN|#QUEUE"); !s.ok()) return s;
      request.argument = std::string(args[0]);
      break;
    case Command::kDelete:
      if (args.size() == 2 && args[0] == "--domain") {
        absl::StatusOr<std::string> domain = Domain(args[1]);
        if (!domain.ok()) return domain.status();
        request.argument = *domain;
        request.by_domain = true;
        break;
      }
      if (absl::Status s = want(1, "ID | delete --domain DOMAIN"); !s.ok()) return s;
      if (absl::Status s = Id(args[0], &request); !s.ok()) return s;
      break;
  }
  return request;
}

absl::StatusOr<std::string> FormatRequest(bool json, const std::vector<std::string>& words) {
  std::string line = json ? "json" : "text";
  for (const std::string& word : words) {
    if (word.empty()) return absl::InvalidArgumentError("empty argument");
    for (char c : word) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7F) {
        return absl::InvalidArgumentError("argument with whitespace or control characters");
      }
    }
    line += ' ';
    line += word;
  }
  line += '\n';
  if (line.size() > kRequestBytesMax) return absl::InvalidArgumentError("request too long");
  return line;
}

}  // namespace etrnd::control
