// One scrape's worth of metric families, filled from every core's snapshot
// on the core that answers the scrape and then rendered. Counters and gauges
// added twice under the same labels sum (cores), histograms merge.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "etrnd/metrics/histogram.h"

namespace etrnd::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

using Labels = std::vector<std::pair<std::string, std::string>>;

struct MetricFamily {
  std::string name;
  std::string help;
  MetricType type = MetricType::kCounter;
  // Keyed by the rendered label set (`code="452"`, "" for none): sorted, so
  // the output is stable from scrape to scrape.
  std::map<std::string, double> values;
  std::map<std::string, HistogramSnapshot> histograms;
};

class Registry {
 public:
  // Declares a family once; families render in the order of declaration.
  // Declaring it again with the same type is a no-op.
  void Declare(std::string_view name, std::string_view help, MetricType type);
  // Counter or gauge sample; sums with what was added before.
  void Add(std::string_view name, const Labels& labels, double value);
  void AddHistogram(std::string_view name, const Labels& labels, const HistogramSnapshot& data);

  const std::vector<MetricFamily>& families() const { return families_; }

 private:
  MetricFamily& Find(std::string_view name);

  std::vector<MetricFamily> families_;
};

// `k="v",k2="v2"` with the exposition format's escapes; "" for no labels.
std::string RenderLabels(const Labels& labels);

}  // namespace etrnd::metrics
