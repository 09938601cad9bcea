// Flags that hold a comma-separated list ("--listen=a:25, b:25",
// "--peer_from=10.0.0.0/8,192.0.2.1/32"): split, each item trimmed, empty
// items skipped, and each parsed with the error naming the flag.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace etrnd::server {

// The items of a list flag's value, trimmed; "" and " , " have none.
// Copies: the value is often absl::GetFlag's temporary.
std::vector<std::string> SplitFlagList(std::string_view text);

// Each item through `parse` (std::string_view -> absl::StatusOr<T>); the
// first error becomes "--<flag>: <its message>".
template <typename Parse>
using ParsedFlagItem = typename std::invoke_result_t<Parse, std::string_view>::value_type;

template <typename Parse>
absl::StatusOr<std::vector<ParsedFlagItem<Parse>>> ParseFlagList(std::string_view flag,
                                                                 std::string_view text,
                                                                 Parse parse) {
  std::vector<ParsedFlagItem<Parse>> items;
  for (const std::string& item : SplitFlagList(text)) {
    auto parsed = parse(std::string_view(item));
    if (!parsed.ok()) {
      return absl::InvalidArgumentError("--" + std::string(flag) + ": " +
                                        std::string(parsed.status().message()));
    }
    items.push_back(*std::move(parsed));
  }
  return items;
}

}  // namespace etrnd::server
