#include "etrnd/blaster/domain_picker.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace etrnd::blaster {

absl::StatusOr<std::string> FormatDomain(std::string_view pattern, size_t index) {
  std::string out;
  int conversions = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') {
      out.push_back(pattern[i]);
      continue;
    }
    const char next = i + 1 < pattern.size() ? pattern[i + 1] : '\0';
    if (next == '%') {
      out.push_back('%');
    } else if (next == 'd') {
      ++conversions;
      absl::StrAppend(&out, index);
    } else {
      return absl::InvalidArgumentError("domain pattern: only %d and %% are allowed");
    }
    ++i;
  }
  if (conversions != 1) {
    return absl::InvalidArgumentError("domain pattern must contain exactly one %d");
  }
  return out;
}

absl::StatusOr<DomainPicker> DomainPicker::Create(std::string_view pattern, size_t count,
                                                  double zipf_exponent) {
  if (count == 0 || count > kMaxDomains) {
    return absl::InvalidArgumentError(absl::StrCat("domain count must be in 1..", kMaxDomains));
  }
  if (zipf_exponent < 0 || !std::isfinite(zipf_exponent)) {
    return absl::InvalidArgumentError("zipf exponent must be >= 0");
  }
  DomainPicker picker;
  picker.names_.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    absl::StatusOr<std::string> name = FormatDomain(pattern, i);
    if (!name.ok()) return name.status();
    picker.names_.push_back(*std::move(name));
  }
  if (zipf_exponent > 0) {
    picker.cumulative_.reserve(count);
    double total = 0;
    for (size_t i = 0; i < count; ++i) {
      total += 1.0 / std::pow(static_cast<double>(i + 1), zipf_exponent);
      picker.cumulative_.push_back(total);
    }
  }
  return picker;
}

size_t DomainPicker::PickIndex(std::mt19937_64& rng) const {
  if (cumulative_.empty()) {
    return std::uniform_int_distribution<size_t>(0, names_.size() - 1)(rng);
  }
  const double u = std::uniform_real_distribution<double>(0, cumulative_.back())(rng);
  const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), u);
  return std::min<size_t>(it - cumulative_.begin(), names_.size() - 1);
}

}  // namespace etrnd::blaster
