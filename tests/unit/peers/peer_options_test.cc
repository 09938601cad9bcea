#include "etrnd/peers/peer_options.h"

#include "gtest/gtest.h"

namespace etrnd::peers {
namespace {

IpAddress Ip(std::string_view text) { return *IpAddress::Parse(text); }

TEST(IsPeerClientTest, ByAddress) {
  PeerOptions options;
  options.peer_from = {*CidrNetwork::Parse("10.1.0.0/16"), *CidrNetwork::Parse("2001:db8::/32")};
  EXPECT_TRUE(IsPeerClient(options, Ip("10.1.2.3"), ""));
  EXPECT_TRUE(IsPeerClient(options, Ip("2001:db8::7"), ""));
  EXPECT_FALSE(IsPeerClient(options, Ip("10.2.0.1"), ""));
  EXPECT_FALSE(IsPeerClient(options, Ip("192.0.2.1"), "someone"));
}

TEST(IsPeerClientTest, ByAuthenticatedUser) {
  PeerOptions options;
  options.peer_users = {"node-sync"};
  EXPECT_TRUE(IsPeerClient(options, Ip("192.0.2.1"), "node-sync"));
  EXPECT_FALSE(IsPeerClient(options, Ip("192.0.2.1"), "node-syn"));
  EXPECT_FALSE(IsPeerClient(options, Ip("192.0.2.1"), ""));
}

TEST(IsPeerClientTest, NothingConfiguredTrustsNobody) {
  EXPECT_FALSE(IsPeerClient(PeerOptions{}, Ip("127.0.0.1"), ""));
}

}  // namespace
}  // namespace etrnd::peers
