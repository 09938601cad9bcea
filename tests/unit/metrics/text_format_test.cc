#include "etrnd/metrics/text_format.h"

#include <gtest/gtest.h>

#include "etrnd/metrics/core_metrics.h"
#include "etrnd/metrics/registry.h"

namespace etrnd::metrics {
namespace {

constexpr double kBounds[] = {0.005, 0.25, 1};

TEST(TextFormatTest, SmallRegistryRendersExactly) {
  Registry registry;
  registry.Declare("demo_requests_total", "Requests served.", MetricType::kCounter);
  registry.Declare("demo_queue", "Queued items per core.", MetricType::kGauge);
  registry.Declare("demo_reply_seconds", "Reply time.", MetricType::kHistogram);
  // Two cores' worth: counters sum, labelled samples sort by label text.
  registry.Add("demo_requests_total", {{"code", "452"}}, 2);
  registry.Add("demo_requests_total", {{"code", "250"}}, 5);
  registry.Add("demo_requests_total", {{"code", "452"}}, 1);
  registry.Add("demo_queue", {{"core", "1"}}, 7);
  registry.Add("demo_queue", {{"core", "0"}}, 0);
  Histogram core0(kBounds);
  Histogram core1(kBounds);
  core0.Observe(0.001);
  core0.Observe(0.5);
  core1.Observe(3);
  registry.AddHistogram("demo_reply_seconds", {}, core0.snapshot());
  registry.AddHistogram("demo_reply_seconds", {}, core1.snapshot());

  EXPECT_EQ(RenderText(registry),
            "# HELP demo_requests_total Requests served.\n"
            "# TYPE demo_requests_total counter\n"
            "demo_requests_total{code=\"250\"} 5\n"
            "demo_requests_total{code=\"452\"} 3\n"
            "# HELP demo_queue Queued items per core.\n"
            "# TYPE demo_queue gauge\n"
            "demo_queue{core=\"0\"} 0\n"
            "demo_queue{core=\"1\"} 7\n"
            "# HELP demo_reply_seconds Reply time.\n"
            "# TYPE demo_reply_seconds histogram\n"
            "demo_reply_seconds_bucket{le=\"0.005\"} 1\n"
            "demo_reply_seconds_bucket{le=\"0.25\"} 1\n"
            "demo_reply_seconds_bucket{le=\"1\"} 2\n"
            "demo_reply_seconds_bucket{le=\"+Inf\"} 3\n"
            "demo_reply_seconds_sum 3.501\n"
            "demo_reply_seconds_count 3\n");
}

TEST(TextFormatTest, FamilyWithoutSamplesKeepsHelpAndType) {
  Registry registry;
  registry.Declare("demo_refused_total", "Refused.", MetricType::kCounter);
  EXPECT_EQ(RenderText(registry),
            "# HELP demo_refused_total Refused.\n# TYPE demo_refused_total counter\n");
}

TEST(TextFormatTest, LabelledHistogramPutsLeLast) {
  Registry registry;
  registry.Declare("demo_seconds", "Time.", MetricType::kHistogram);
  constexpr double kOne[] = {1};
  Histogram histogram(kOne);
  histogram.Observe(0.5);
  registry.AddHistogram("demo_seconds", {{"core", "0"}}, histogram.snapshot());
  EXPECT_EQ(RenderText(registry),
            "# HELP demo_seconds Time.\n# TYPE demo_seconds histogram\n"
            "demo_seconds_bucket{core=\"0\",le=\"1\"} 1\n"
            "demo_seconds_bucket{core=\"0\",le=\"+Inf\"} 1\n"
            "demo_seconds_sum{core=\"0\"} 0.5\n"
            "demo_seconds_count{core=\"0\"} 1\n");
}

TEST(TextFormatTest, EscapesLabelValuesAndHelp) {
  Registry registry;
  registry.Declare("demo_total", "Line one\\two\nthree", MetricType::kCounter);
  registry.Add("demo_total", {{"path", "a\"b\\c\nd"}}, 1);
  EXPECT_EQ(RenderText(registry),
            "# HELP demo_total Line one\\\\two\\nthree\n# TYPE demo_total counter\n"
            "demo_total{path=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(TextFormatTest, FormatsValues) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(12345678901234.0), "12345678901234");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(0.000025), "2.5e-05");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
}

TEST(TextFormatTest, EveryEtrndFamilyHasHelpAndType) {
  Registry registry;
  DeclareEtrndMetrics(&registry);
  CoreSnapshot snapshot;
  snapshot.core = 3;
  snapshot.metrics.messages_accepted_total = 2;
  snapshot.metrics.etrn_replies.Add(459);
  snapshot.metrics.etrn_reply_seconds.Observe(0.002);
  snapshot.gauges.queued_messages = 2;
  AddCoreSnapshot(snapshot, &registry);
  std::string text = RenderText(registry);
  for (const MetricFamily& family : registry.families()) {
    EXPECT_NE(text.find("# HELP " + family.name + " "), std::string::npos) << family.name;
    EXPECT_NE(text.find("# TYPE " + family.name + " "), std::string::npos) << family.name;
  }
  EXPECT_NE(text.find("etrnd_messages_accepted_total 2\n"), std::string::npos);
  EXPECT_NE(text.find("etrnd_etrn_total{code=\"459\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("etrnd_queued_messages{core=\"3\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("etrnd_etrn_reply_seconds_count 1\n"), std::string::npos);
  EXPECT_NE(text.find("etrnd_etrn_reply_seconds_bucket{le=\"0.0025\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace etrnd::metrics
