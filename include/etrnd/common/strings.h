// Debian 12's abseil is built with its own absl::string_view (not an alias of
// std::string_view). etrnd code uses std::string_view; these adapters pass it
// to abseil string functions without copying.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace etrnd {

inline absl::string_view AsAbsl(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}
inline std::string_view AsStd(absl::string_view text) {
  return std::string_view(text.data(), text.size());
}

}  // namespace etrnd
