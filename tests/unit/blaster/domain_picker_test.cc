#include "etrnd/blaster/domain_picker.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace etrnd::blaster {
namespace {

TEST(FormatDomainTest, ReplacesTheOneConversion) {
  EXPECT_EQ(FormatDomain("d%d.test", 7).value(), "d7.test");
  EXPECT_EQ(FormatDomain("%d", 0).value(), "0");
  EXPECT_EQ(FormatDomain("100%%-%d.example", 3).value(), "100%-3.example");
}

TEST(FormatDomainTest, RejectsBadPatterns) {
  EXPECT_FALSE(FormatDomain("plain.test", 1).ok());
  EXPECT_FALSE(FormatDomain("%d.%d.test", 1).ok());
  EXPECT_FALSE(FormatDomain("%s.test", 1).ok());
  EXPECT_FALSE(FormatDomain("d%", 1).ok());
}

TEST(DomainPickerTest, NamesAreZeroBased) {
  DomainPicker picker = DomainPicker::Create("d%d.test", 3, 0).value();
  ASSERT_EQ(picker.size(), 3u);
  EXPECT_EQ(picker.name(0), "d0.test");
  EXPECT_EQ(picker.name(2), "d2.test");
  EXPECT_FALSE(DomainPicker::Create("d%d.test", 0, 0).ok());
  EXPECT_FALSE(DomainPicker::Create("d%d.test", 3, -1).ok());
}

TEST(DomainPickerTest, UniformCoversAllRoughlyEvenly) {
  DomainPicker picker = DomainPicker::Create("d%d", 10, 0).value();
  std::mt19937_64 rng(1);
  std::vector<int> hits(10);
  for (int i = 0; i < 100000; ++i) ++hits[picker.PickIndex(rng)];
  for (int h : hits) {
    EXPECT_GT(h, 9000);
    EXPECT_LT(h, 11000);
  }
}

TEST(DomainPickerTest, ZipfSkewsTowardTheFirstDomains) {
  DomainPicker picker = DomainPicker::Create("d%d", 1000, 1.0).value();
  std::mt19937_64 rng(2);
  std::vector<int> hits(1000);
  const int draws = 200000;
  for (int i = 0; i < draws; ++i) ++hits[picker.PickIndex(rng)];
  // With s=1 and n=1000, P(0) = 1/H(1000) ~ 0.134 and P(1) = P(0)/2.
  EXPECT_NEAR(hits[0] / static_cast<double>(draws), 0.134, 0.01);
  EXPECT_NEAR(hits[1] / static_cast<double>(hits[0]), 0.5, 0.05);
  EXPECT_GT(hits[0], 50 * hits[999] + 1);
}

}  // namespace
}  // namespace etrnd::blaster
