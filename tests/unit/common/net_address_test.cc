// IpAddress::ToString prints IPv4 itself (it runs for every message): the
// text must be exactly inet_ntop's.
#include "etrnd/common/net_address.h"

#include <arpa/inet.h>

#include <string>

#include "gtest/gtest.h"

namespace etrnd {
namespace {

std::string InetNtop(int family, const void* bytes) {
  char buffer[INET6_ADDRSTRLEN] = {0};
  inet_ntop(family, bytes, buffer, sizeof(buffer));
  return buffer;
}

TEST(IpAddressTest, Ipv4TextIsInetNtops) {
  for (const char* text :
       {"0.0.0.0", "255.255.255.255", "10.0.0.1", "192.0.2.1", "1.22.133.4", "100.9.0.200"}) {
    const IpAddress ip = IpAddress::Parse(text).value();
    EXPECT_EQ(ip.ToString(), text);
    EXPECT_EQ(ip.ToString(), InetNtop(AF_INET, ip.bytes()));
  }
  for (uint32_t value = 0; value < 256 * 256; value += 7) {
    const uint8_t bytes[4] = {static_cast<uint8_t>(value % 251), static_cast<uint8_t>(value >> 8),
                              static_cast<uint8_t>(value), static_cast<uint8_t>(value / 3)};
    const std::string text = InetNtop(AF_INET, bytes);
    EXPECT_EQ(IpAddress::Parse(text).value().ToString(), text);
  }
}

TEST(IpAddressTest, Ipv6AndUnknownUnchanged) {
  EXPECT_EQ(IpAddress::Parse("2001:db8::1").value().ToString(), "2001:db8::1");
  EXPECT_EQ(IpAddress::Parse("::ffff:192.0.2.1").value().ToString(), "::ffff:192.0.2.1");
  EXPECT_EQ(IpAddress().ToString(), "unknown");
}

}  // namespace
}  // namespace etrnd
