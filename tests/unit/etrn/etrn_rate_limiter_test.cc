#include "etrnd/etrn/etrn_rate_limiter.h"

#include "gtest/gtest.h"

namespace etrnd::etrn {
namespace {

IpAddress Ip(std::string_view text) { return *IpAddress::Parse(text); }

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

int AllowedInARow(EtrnRateLimiter& limiter, const IpAddress& client, absl::Time now) {
  int allowed = 0;
  while (allowed < 1000 && limiter.Allow(client, now)) ++allowed;
  return allowed;
}

TEST(EtrnRateLimiterTest, BurstThenRefused) {
  EtrnRateLimiter limiter(EtrnRateLimits{.burst = 10, .refill_per_second = 2});
  EXPECT_EQ(AllowedInARow(limiter, Ip("192.0.2.1"), kStart), 10);
  EXPECT_FALSE(limiter.Allow(Ip("192.0.2.1"), kStart));
}

TEST(EtrnRateLimiterTest, RefillsAtTheConfiguredRate) {
  EtrnRateLimiter limiter(EtrnRateLimits{.burst = 10, .refill_per_second = 2});
  IpAddress client = Ip("192.0.2.1");
  AllowedInARow(limiter, client, kStart);
  EXPECT_FALSE(limiter.Allow(client, kStart + absl::Milliseconds(400)));
  EXPECT_TRUE(limiter.Allow(client, kStart + absl::Milliseconds(500)));
  EXPECT_FALSE(limiter.Allow(client, kStart + absl::Milliseconds(500)));
  EXPECT_EQ(AllowedInARow(limiter, client, kStart + absl::Seconds(3)), 5);
  // Never more than the burst, however long the client was quiet.
  EXPECT_EQ(AllowedInARow(limiter, client, kStart + absl::Hours(1)), 10);
}

TEST(EtrnRateLimiterTest, ClientsHaveSeparateBuckets) {
  EtrnRateLimiter limiter(EtrnRateLimits{.burst = 3, .refill_per_second = 1});
  EXPECT_EQ(AllowedInARow(limiter, Ip("192.0.2.1"), kStart), 3);
  EXPECT_EQ(AllowedInARow(limiter, Ip("192.0.2.2"), kStart), 3);
  EXPECT_EQ(limiter.tracked_clients(), 2u);
}

TEST(EtrnRateLimiterTest, MappedIpv4SharesTheIpv4Bucket) {
  EtrnRateLimiter limiter(EtrnRateLimits{.burst = 3, .refill_per_second = 1});
  EXPECT_EQ(AllowedInARow(limiter, Ip("192.0.2.1"), kStart), 3);
  EXPECT_FALSE(limiter.Allow(Ip("::ffff:192.0.2.1"), kStart));
}

TEST(EtrnRateLimiterTest, Ipv6GroupedByPrefix) {
  EtrnRateLimiter limiter(EtrnRateLimits{.burst = 3, .refill_per_second = 1});
  EXPECT_EQ(AllowedInARow(limiter, Ip("2001:db8:1:2::1"), kStart), 3);
  EXPECT_FALSE(limiter.Allow(Ip("2001:db8:1:2:ffff::9"), kStart));  // same /64
  EXPECT_TRUE(limiter.Allow(Ip("2001:db8:1:3::1"), kStart));        // another /64
}

TEST(EtrnRateLimiterTest, BoundedNumberOfClientsEvictsLeastRecent) {
  EtrnRateLimiter limiter(
      EtrnRateLimits{.burst = 1, .refill_per_second = 0.001, .tracked_clients_max = 2});
  IpAddress a = Ip("192.0.2.1"), b = Ip("192.0.2.2"), c = Ip("192.0.2.3");
  EXPECT_TRUE(limiter.Allow(a, kStart));
  EXPECT_TRUE(limiter.Allow(b, kStart));
  EXPECT_FALSE(limiter.Allow(a, kStart));  // a is now the most recent
  EXPECT_TRUE(limiter.Allow(c, kStart));   // evicts b
  EXPECT_EQ(limiter.tracked_clients(), 2u);
  EXPECT_FALSE(limiter.Allow(a, kStart));  // a kept its empty bucket
  EXPECT_TRUE(limiter.Allow(b, kStart));   // b was forgotten: fresh bucket
  EXPECT_EQ(limiter.tracked_clients(), 2u);
}

TEST(EtrnRateLimiterTest, ClockGoingBackDoesNotRefill) {
  EtrnRateLimiter limiter(EtrnRateLimits{.burst = 2, .refill_per_second = 1});
  IpAddress client = Ip("192.0.2.1");
  AllowedInARow(limiter, client, kStart + absl::Seconds(10));
  EXPECT_FALSE(limiter.Allow(client, kStart));
  EXPECT_FALSE(limiter.Allow(client, kStart + absl::Seconds(10)));
  EXPECT_TRUE(limiter.Allow(client, kStart + absl::Seconds(11)));
}

TEST(EtrnRateLimiterTest, DefaultsAllowABurstOfTen) {
  EtrnRateLimiter limiter;
  EXPECT_EQ(AllowedInARow(limiter, Ip("::1"), kStart), 10);
}

TEST(EtrnRateLimiterTest, ShardOfKeepsABucketOnOneShard) {
  EtrnRateLimiter a;
  EtrnRateLimiter b;
  for (size_t shards : {1u, 2u, 7u, 64u}) {
    IpAddress v4 = *IpAddress::Parse("192.0.2.9");
    EXPECT_LT(a.ShardOf(v4, shards), shards);
    EXPECT_EQ(a.ShardOf(v4, shards), b.ShardOf(v4, shards));  // every core agrees
    EXPECT_EQ(a.ShardOf(*IpAddress::Parse("::ffff:192.0.2.9"), shards), a.ShardOf(v4, shards));
    // One /64 shares one bucket, so one shard.
    EXPECT_EQ(a.ShardOf(*IpAddress::Parse("2001:db8:1:2::1"), shards),
              a.ShardOf(*IpAddress::Parse("2001:db8:1:2:ffff::9"), shards));
  }
}

}  // namespace
}  // namespace etrnd::etrn
