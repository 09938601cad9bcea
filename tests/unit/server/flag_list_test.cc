#include "etrnd/server/flag_list.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "etrnd/common/net_address.h"

namespace etrnd::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(SplitFlagListTest, TrimsItemsAndSkipsEmptyOnes) {
  // Items outlive the text they came from (absl::GetFlag returns a temporary).
  EXPECT_THAT(SplitFlagList(std::string("x, y")), ElementsAre("x", "y"));
  EXPECT_THAT(SplitFlagList("a, b ,c"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(SplitFlagList(" a ,, \t,b,"), ElementsAre("a", "b"));
  EXPECT_THAT(SplitFlagList(""), IsEmpty());
  EXPECT_THAT(SplitFlagList(" , "), IsEmpty());
  EXPECT_THAT(SplitFlagList("one"), ElementsAre("one"));
}

TEST(ParseFlagListTest, ParsesEveryItem) {
  auto networks = ParseFlagList("peer_from", "10.0.0.0/8, 192.0.2.1/32", CidrNetwork::Parse);
  ASSERT_TRUE(networks.ok()) << networks.status();
  ASSERT_EQ(networks->size(), 2u);
  EXPECT_TRUE((*networks)[0].Contains(*IpAddress::Parse("10.1.2.3")));
  EXPECT_FALSE((*networks)[1].Contains(*IpAddress::Parse("192.0.2.2")));
}

TEST(ParseFlagListTest, TheFirstBadItemNamesTheFlag) {
  auto addresses = ParseFlagList("listen", "127.0.0.1:25,nonsense,also bad",
                                 [](std::string_view item) { return SocketAddress::Parse(item); });
  ASSERT_FALSE(addresses.ok());
  EXPECT_EQ(addresses.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(addresses.status().message()), ::testing::StartsWith("--listen: "));
  EXPECT_THAT(std::string(addresses.status().message()), ::testing::HasSubstr("nonsense"));
}

TEST(ParseFlagListTest, AnEmptyFlagIsAnEmptyList) {
  auto addresses = ParseFlagList("proxy_protocol_from", " ", CidrNetwork::Parse);
  ASSERT_TRUE(addresses.ok());
  EXPECT_THAT(*addresses, IsEmpty());
}

}  // namespace
}  // namespace etrnd::server
