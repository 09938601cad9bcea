#include <cstdint>

#include "etrnd/blaster/work_split.h"
#include "gtest/gtest.h"

namespace etrnd::blaster {
namespace {

TEST(SplitWorkTest, SharesAddUpExactly) {
  ClientOptions options;
  options.threads = 3;
  options.connections = 10;
  options.messages = 1001;
  const std::vector<WorkerShare> shares = SplitWork(options);
  ASSERT_EQ(shares.size(), 3u);
  int connections = 0;
  uint64_t messages = 0;
  for (const WorkerShare& share : shares) {
    EXPECT_GE(share.connections, 3);
    connections += share.connections;
    messages += share.messages;
  }
  EXPECT_EQ(connections, 10);
  EXPECT_EQ(messages, 1001u);
}

TEST(SplitWorkTest, NoThreadWithoutSessionsOrWithAnUnlimitedQuota) {
  ClientOptions options;
  options.threads = 8;
  options.connections = 2;
  options.messages = 100;
  EXPECT_EQ(SplitWork(options).size(), 2u);
  options.connections = 8;
  options.messages = 3;  // fewer messages than threads
  const std::vector<WorkerShare> shares = SplitWork(options);
  ASSERT_EQ(shares.size(), 3u);
  for (const WorkerShare& share : shares) EXPECT_EQ(share.messages, 1u);
}

TEST(SplitWorkTest, OpenLoopRateIsSplitAndInterleaved) {
  ClientOptions options;
  options.threads = 2;
  options.connections = 4;
  options.rate = 1000;
  const std::vector<WorkerShare> shares = SplitWork(options);
  ASSERT_EQ(shares.size(), 2u);
  EXPECT_DOUBLE_EQ(shares[0].rate, 500);
  EXPECT_DOUBLE_EQ(shares[1].rate, 500);
  EXPECT_EQ(shares[0].schedule_offset_ns, 0);
  EXPECT_EQ(shares[1].schedule_offset_ns, 1'000'000);  // half of each thread's 2 ms interval
  EXPECT_EQ(shares[0].messages, 0u);                   // no limit: --duration ends the run
}

}  // namespace
}  // namespace etrnd::blaster
