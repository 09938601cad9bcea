#include "etrnd/spool/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace etrnd::spool {
namespace {

// Test vectors from RFC 3720, appendix B.4.
TEST(Crc32cTest, Rfc3720Vectors) {
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xFF')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(descending), 0x113FDB5Cu);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
}

TEST(Crc32cTest, PortableMatchesDispatchedForEveryLengthAndSplit) {
  std::string data;
  for (int i = 0; i < 100; ++i) data.push_back(static_cast<char>(i * 37 + 11));
  for (size_t length = 0; length <= data.size(); ++length) {
    const std::string_view prefix(data.data(), length);
    const uint32_t expected = Crc32cExtendPortable(0, prefix);
    EXPECT_EQ(Crc32c(prefix), expected) << length;
    const size_t split = length / 3;
    EXPECT_EQ(Crc32cExtend(Crc32c(prefix.substr(0, split)), prefix.substr(split)), expected)
        << length;
  }
}

TEST(Crc32cTest, EmptyIsZero) { EXPECT_EQ(Crc32c(""), 0u); }

}  // namespace
}  // namespace etrnd::spool
