#include "etrnd/auth/auth_failure_limiter.h"

#include "gtest/gtest.h"

namespace etrnd::auth {
namespace {

IpAddress Ip(std::string_view text) { return *IpAddress::Parse(text); }

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

TEST(AuthFailureLimiterTest, LocksAfterFiveFailuresWithinTheWindow) {
  AuthFailureLimiter limiter;
  const IpAddress client = Ip("192.0.2.1");
  for (int i = 0; i < kAuthFailuresMax - 1; ++i) {
    limiter.RecordFailure(client, kT0 + absl::Seconds(i));
    EXPECT_FALSE(limiter.Locked(client, kT0 + absl::Seconds(i)));
  }
  limiter.RecordFailure(client, kT0 + absl::Seconds(10));
  EXPECT_TRUE(limiter.Locked(client, kT0 + absl::Seconds(10)));
  EXPECT_TRUE(limiter.Locked(client, kT0 + absl::Seconds(69)));
  EXPECT_FALSE(limiter.Locked(client, kT0 + absl::Seconds(71)));
  EXPECT_FALSE(limiter.Locked(Ip("192.0.2.2"), kT0 + absl::Seconds(10)));
}

TEST(AuthFailureLimiterTest, SlowFailuresNeverLock) {
  AuthFailureLimiter limiter;
  const IpAddress client = Ip("2001:db8::1");
  for (int i = 0; i < 20; ++i) {
    limiter.RecordFailure(client, kT0 + absl::Seconds(61 * i));
    EXPECT_FALSE(limiter.Locked(client, kT0 + absl::Seconds(61 * i)));
  }
}

TEST(AuthFailureLimiterTest, MappedAndPlainV4AreOneAddress) {
  AuthFailureLimiter limiter;
  for (int i = 0; i < kAuthFailuresMax; ++i) {
    limiter.RecordFailure(i % 2 ? Ip("::ffff:192.0.2.9") : Ip("192.0.2.9"), kT0);
  }
  EXPECT_TRUE(limiter.Locked(Ip("192.0.2.9"), kT0));
}

TEST(AuthFailureLimiterTest, TableIsBounded) {
  AuthFailureLimiter limiter(/*addresses_max=*/4);
  for (int i = 0; i < 100; ++i) {
    limiter.RecordFailure(Ip("10.0.0." + std::to_string(i)), kT0 + absl::Milliseconds(i));
    EXPECT_LE(limiter.tracked(), 4u);
  }
  // A locked address survives newcomers that expire sooner.
  AuthFailureLimiter small(/*addresses_max=*/2);
  for (int i = 0; i < kAuthFailuresMax; ++i) {
    small.RecordFailure(Ip("10.1.0.1"), kT0 + absl::Seconds(1));
  }
  for (int i = 0; i < 10; ++i) small.RecordFailure(Ip("10.2.0." + std::to_string(i)), kT0);
  EXPECT_TRUE(small.Locked(Ip("10.1.0.1"), kT0 + absl::Seconds(30)));
}

}  // namespace
}  // namespace etrnd::auth
