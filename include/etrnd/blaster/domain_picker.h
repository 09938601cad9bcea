// The recipient domains of a run: --domains names made from a printf-like
// pattern with one %d (index 0 .. count-1), drawn uniformly or with a Zipf
// skew (a few domains get most of the mail, as at a real ISP).
#pragma once

#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace etrnd::blaster {

// "d%d.test", 7 -> "d7.test". The pattern must hold exactly one %d; "%%"
// stands for a literal '%'.
absl::StatusOr<std::string> FormatDomain(std::string_view pattern, size_t index);

class DomainPicker {
 public:
  // Bounds memory (names and the Zipf table).
  static constexpr size_t kMaxDomains = 4'000'000;

  // zipf_exponent 0 = uniform; s > 0 gives domain i weight 1 / (i+1)^s.
  static absl::StatusOr<DomainPicker> Create(std::string_view pattern, size_t count,
                                             double zipf_exponent);

  const std::string& Pick(std::mt19937_64& rng) const { return names_[PickIndex(rng)]; }
  size_t PickIndex(std::mt19937_64& rng) const;
  const std::string& name(size_t index) const { return names_[index]; }
  size_t size() const { return names_.size(); }

 private:
  std::vector<std::string> names_;
  std::vector<double> cumulative_;  // empty when uniform
};

}  // namespace etrnd::blaster
