#include "etrnd/control/qshape.h"

#include <gtest/gtest.h>

namespace etrnd::control {
namespace {

TEST(QshapeTest, BucketsByUpperBound) {
  EXPECT_EQ(QshapeBucket(absl::Seconds(-5)), 0u);
  EXPECT_EQ(QshapeBucket(absl::ZeroDuration()), 0u);
  EXPECT_EQ(QshapeBucket(absl::Minutes(5) - absl::Seconds(1)), 0u);
  EXPECT_EQ(QshapeBucket(absl::Minutes(5)), 1u);
  EXPECT_EQ(QshapeBucket(absl::Minutes(19)), 2u);
  EXPECT_EQ(QshapeBucket(absl::Minutes(1279)), 8u);
  EXPECT_EQ(QshapeBucket(absl::Minutes(1280)), 9u);
  EXPECT_EQ(QshapeBucket(absl::Hours(24 * 30)), 9u);
}

TEST(QshapeTest, Labels) {
  EXPECT_EQ(kQshapeBuckets, 10u);
  EXPECT_EQ(QshapeLabel(0), "5m");
  EXPECT_EQ(QshapeLabel(8), "1280m");
  EXPECT_EQ(QshapeLabel(9), "1280m+");
}

}  // namespace
}  // namespace etrnd::control
