#include "etrnd/reactor/turn_profile.h"

#include "absl/strings/str_cat.h"

namespace etrnd::reactor {
namespace {

std::string Ms(absl::Duration d) { return absl::FormatDuration(d); }

std::string DescribePhase(const TurnPhase& phase, const char* noun) {
  std::string text = absl::StrCat(phase.count, " ", noun);
  if (phase.count == 0) return text;
  absl::StrAppend(&text, " ", Ms(phase.time), " (longest ", Ms(phase.longest));
  if (phase.longest_kind[0] != '\0') absl::StrAppend(&text, ", ", phase.longest_kind);
  absl::StrAppend(&text, ")");
  return text;
}

}  // namespace

std::string TurnProfile::Describe() const {
  return absl::StrCat(DescribePhase(completions, "completions"), "; ",
                      DescribePhase(timers, "timers"), "; ", DescribePhase(posted, "tasks"), "; ",
                      DescribePhase(background, "background"), "; teardowns ", Ms(teardowns),
                      "; hooks ", Ms(loop_end_hooks), "; sends ", Ms(sends));
}

}  // namespace etrnd::reactor
