// The Received: header's date is formatted once per second and thread: the
// cache must never hand out another second's date.
#include "etrnd/smtp/received_header.h"

#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

TEST(ReceivedHeaderTest, DateFollowsTheSecondAcrossTheCache) {
  const absl::Time second = absl::FromUnixSeconds(1764648451);  // 2025-12-02 04:07:31
  EXPECT_EQ(FormatRfc5322Date(second), "Tue, 02 Dec 2025 04:07:31 +0000");
  EXPECT_EQ(FormatRfc5322Date(second + absl::Milliseconds(999)), "Tue, 02 Dec 2025 04:07:31 +0000");
  EXPECT_EQ(FormatRfc5322Date(second + absl::Seconds(1)), "Tue, 02 Dec 2025 04:07:32 +0000");
  // Back in time (a clock step) and before the epoch work too.
  EXPECT_EQ(FormatRfc5322Date(second - absl::Milliseconds(1)), "Tue, 02 Dec 2025 04:07:30 +0000");
  EXPECT_EQ(FormatRfc5322Date(absl::FromUnixMillis(-1)), "Wed, 31 Dec 1969 23:59:59 +0000");
  EXPECT_EQ(FormatRfc5322Date(absl::UnixEpoch()), "Thu, 01 Jan 1970 00:00:00 +0000");
}

TEST(ReceivedHeaderTest, HeaderCarriesTheCachedDate) {
  ReceivedInfo info;
  info.helo_name = "client.example";
  info.peer_ip = IpAddress::Parse("192.0.2.7").value();
  info.hostname = "mx.example.net";
  info.queue_id = "18D2F6A3B1C0400A";
  info.recipient = "user@example.com";
  info.time = absl::FromUnixSeconds(1764648451);
  EXPECT_EQ(FormatReceivedHeader(info),
            "Received: from client.example ([192.0.2.7])\r\n"
            "\tby mx.example.net (etrnd) with ESMTP id 18D2F6A3B1C0400A\r\n"
            "\tfor <user@example.com>; Tue, 02 Dec 2025 04:07:31 +0000\r\n");
}

}  // namespace
}  // namespace etrnd::smtp
