#include "etrnd/server/flag_list.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "etrnd/common/strings.h"

namespace etrnd::server {

std::vector<std::string> SplitFlagList(std::string_view text) {
  std::vector<std::string> items;
  for (absl::string_view item : absl::StrSplit(AsAbsl(text), ',', absl::SkipWhitespace())) {
    items.emplace_back(absl::StripAsciiWhitespace(item));
  }
  return items;
}

}  // namespace etrnd::server
