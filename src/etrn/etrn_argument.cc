#include "etrnd/etrn/etrn_argument.h"

#include "absl/strings/str_cat.h"
#include "etrnd/common/strings.h"
#include "etrnd/config/domain_name.h"

namespace etrnd::etrn {
namespace {

absl::Status SyntaxError(std::string_view detail) {
  if (detail.empty()) return absl::InvalidArgumentError(std::string(kReplySyntax));
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(kReplySyntax), " (", AsAbsl(detail), ")"));
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimBlanks(std::string_view text) {
  while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsBlank(text.back())) text.remove_suffix(1);
  return text;
}

absl::StatusOr<std::string> ParseDomain(std::string_view text, size_t min_labels) {
  if (text.size() > kEtrnNodeOctetsMax) return SyntaxError("node name longer than 255 octets");
  std::string name = config::NormalizeDomain(text);
  const char* problem = config::DomainNameProblem(name, min_labels, kEtrnNodeOctetsMax);
  if (problem != nullptr) return SyntaxError(problem);
  return name;
}

}  // namespace

absl::StatusOr<EtrnArgument> ParseEtrnArgument(std::string_view argument) {
  argument = TrimBlanks(argument);
  if (argument.empty()) return SyntaxError("");
  for (char c : argument) {
    if (IsBlank(c)) return SyntaxError("one argument only");
  }
  EtrnArgument result;
  result.as_sent = std::string(argument);
  if (argument.front() == '#') {
    result.form = EtrnForm::kQueue;
    std::string_view queue = argument.substr(1);
    if (!config::IsValidQueueName(queue)) return SyntaxError("bad queue name");
    result.name = config::AsciiLower(queue);
    return result;
  }
  bool subtree = argument.front() == '@';
  result.form = subtree ? EtrnForm::kSubtree : EtrnForm::kNode;
  auto name = ParseDomain(subtree ? argument.substr(1) : argument, subtree ? 1 : 2);
  if (!name.ok()) return name.status();
  result.name = *std::move(name);
  return result;
}

}  // namespace etrnd::etrn
