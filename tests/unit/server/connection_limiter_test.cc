#include "etrnd/server/connection_limiter.h"

#include "gtest/gtest.h"

namespace etrnd::server {
namespace {

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

TEST(ConnectionLimiterTest, PerAddressLimitAdmitsExactlyN) {
  ConnectionLimiter limiter(100, 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.1")), Admission::kAdmitted);
  EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.1")), Admission::kTooManyFromAddress);
  EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.2")), Admission::kAdmitted);
  limiter.Release(Ip("127.0.0.1"));
  EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.1")), Admission::kAdmitted);
  EXPECT_EQ(limiter.total(), 4u);
}

TEST(ConnectionLimiterTest, TotalLimitCountsEveryAddress) {
  ConnectionLimiter limiter(2, 10);
  EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.1")), Admission::kAdmitted);
  EXPECT_EQ(limiter.TryAdmit(Ip("::1")), Admission::kAdmitted);
  EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.3")), Admission::kTooManyTotal);
  limiter.Release(Ip("::1"));
  EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.3")), Admission::kAdmitted);
}

TEST(ConnectionLimiterTest, ReleaseOfUnknownAddressIsIgnored) {
  ConnectionLimiter limiter(2, 1);
  limiter.Release(Ip("10.0.0.1"));
  EXPECT_EQ(limiter.total(), 0u);
  EXPECT_EQ(limiter.TryAdmit(Ip("10.0.0.1")), Admission::kAdmitted);
}

}  // namespace
}  // namespace etrnd::server
