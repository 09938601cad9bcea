#include "etrnd/control/holds_file.h"

#include <gtest/gtest.h>

namespace etrnd::control {
namespace {

TEST(HoldsFileTest, EncodesSortedUnique) {
  EXPECT_EQ(EncodeHolds({"b.test", "a.test", "b.test"}), "# etrnd holds v1\na.test\nb.test\n");
  EXPECT_EQ(EncodeHolds({}), "# etrnd holds v1\n");
}

TEST(HoldsFileTest, RoundTrip) {
  auto parsed = ParseHolds(EncodeHolds({"x.example.com", "a.test"}));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, (std::vector<std::string>{"a.test", "x.example.com"}));
}

TEST(HoldsFileTest, ToleratesCommentsBlankLinesAndCase) {
  auto parsed = ParseHolds("# etrnd holds v1\n\n# note\nA.Test.\r\n");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, (std::vector<std::string>{"a.test"}));
}

TEST(HoldsFileTest, RefusesGarbageNamingTheLine) {
  auto parsed = ParseHolds("# etrnd holds v1\na.test\nnot a domain\n");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("line 3"), std::string::npos);
}

}  // namespace
}  // namespace etrnd::control
