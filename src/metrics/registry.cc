#include "etrnd/metrics/registry.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "etrnd/common/check.h"
#include "etrnd/common/strings.h"

namespace etrnd::metrics {
namespace {

bool IsValidName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

void AppendEscaped(std::string_view value, std::string* out) {
  for (char c : value) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '"') {
      out->append("\\\"");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

}  // namespace

std::string RenderLabels(const Labels& labels) {
  std::string out;
  for (const auto& [key, value] : labels) {
    ETRND_CHECK(IsValidName(key));
    if (!out.empty()) out.push_back(',');
    absl::StrAppend(&out, key, "=\"");
    AppendEscaped(value, &out);
    out.push_back('"');
  }
  return out;
}

void Registry::Declare(std::string_view name, std::string_view help, MetricType type) {
  ETRND_CHECK(IsValidName(name));
  for (const MetricFamily& family : families_) {
    if (family.name == name) {
      ETRND_CHECK(family.type == type);
      return;
    }
  }
  MetricFamily family;
  family.name = std::string(name);
  family.help = std::string(help);
  family.type = type;
  families_.push_back(std::move(family));
}

MetricFamily& Registry::Find(std::string_view name) {
  for (MetricFamily& family : families_) {
    if (family.name == name) return family;
  }
  // A metric used before its Declare() is a programming error.
  std::fprintf(stderr, "etrnd: metric %.*s used before Declare\n", static_cast<int>(name.size()),
               name.data());
  std::abort();
}

void Registry::Add(std::string_view name, const Labels& labels, double value) {
  MetricFamily& family = Find(name);
  ETRND_CHECK(family.type != MetricType::kHistogram);
  family.values[RenderLabels(labels)] += value;
}

void Registry::AddHistogram(std::string_view name, const Labels& labels,
                            const HistogramSnapshot& data) {
  MetricFamily& family = Find(name);
  ETRND_CHECK(family.type == MetricType::kHistogram);
  auto [it, inserted] = family.histograms.try_emplace(RenderLabels(labels), data);
  if (!inserted) it->second.Merge(data);
}

}  // namespace etrnd::metrics
