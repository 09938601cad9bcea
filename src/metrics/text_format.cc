#include "etrnd/metrics/text_format.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "etrnd/common/strings.h"

namespace etrnd::metrics {
namespace {

// Integers are exact in a double up to 2^53; print those without exponent.
constexpr double kExactIntegerMax = 9007199254740992.0;

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text escapes only backslash and newline.
std::string EscapeHelp(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out.append("\\\\");
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void AppendSample(std::string* out, std::string_view name, std::string_view labels, double value) {
  absl::StrAppend(out, AsAbsl(name));
  if (!labels.empty()) absl::StrAppend(out, "{", AsAbsl(labels), "}");
  absl::StrAppend(out, " ", FormatValue(value), "\n");
}

void AppendHistogram(std::string* out, std::string_view name, const std::string& labels,
                     const HistogramSnapshot& data) {
  std::string prefix = labels.empty() ? "" : labels + ",";
  std::string bucket_name = absl::StrCat(AsAbsl(name), "_bucket");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < data.counts.size(); ++i) {
    cumulative += data.counts[i];
    std::string le = i < data.upper_bounds.size() ? FormatValue(data.upper_bounds[i]) : "+Inf";
    AppendSample(out, bucket_name, absl::StrCat(prefix, "le=\"", le, "\""),
                 static_cast<double>(cumulative));
  }
  AppendSample(out, absl::StrCat(AsAbsl(name), "_sum"), labels, data.sum);
  AppendSample(out, absl::StrCat(AsAbsl(name), "_count"), labels, static_cast<double>(data.count));
}

}  // namespace

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) <= kExactIntegerMax) {
    return absl::StrFormat("%.0f", value);
  }
  return absl::StrFormat("%.12g", value);
}

std::string RenderText(const Registry& registry) {
  std::string out;
  for (const MetricFamily& family : registry.families()) {
    absl::StrAppend(&out, "# HELP ", family.name, " ", EscapeHelp(family.help), "\n");
    absl::StrAppend(&out, "# TYPE ", family.name, " ", AsAbsl(TypeName(family.type)), "\n");
    for (const auto& [labels, value] : family.values) {
      AppendSample(&out, family.name, labels, value);
    }
    for (const auto& [labels, data] : family.histograms) {
      AppendHistogram(&out, family.name, labels, data);
    }
  }
  return out;
}

}  // namespace etrnd::metrics
