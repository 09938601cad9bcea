#include "etrnd/control/queue_merge.h"

#include "gtest/gtest.h"

namespace etrnd::control {
namespace {

DomainSummary Row(std::string domain, uint64_t messages, int64_t oldest, std::string state,
                  std::optional<int64_t> next = std::nullopt) {
  DomainSummary row;
  row.domain = std::move(domain);
  row.messages = messages;
  row.recipients = messages * 2;
  row.bytes = messages * 1000;
  row.oldest_age_s = oldest;
  row.state = std::move(state);
  row.next_attempt_s = next;
  row.ages[0] = messages;
  return row;
}

TEST(QueueMergeTest, ReadsBackWhatRenderQueueWrites) {
  std::vector<DomainSummary> rows = {Row("a.test", 3, 60, "etrn"),
                                     Row("b\"odd.test", 1, 5, "retry", 120)};
  auto parsed = ParseQueueJson(RenderQueue(rows, /*json=*/true));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].domain, "a.test");
  EXPECT_EQ((*parsed)[0].messages, 3u);
  EXPECT_EQ((*parsed)[0].recipients, 6u);
  EXPECT_EQ((*parsed)[0].bytes, 3000u);
  EXPECT_EQ((*parsed)[0].oldest_age_s, 60);
  EXPECT_EQ((*parsed)[0].state, "etrn");
  EXPECT_FALSE((*parsed)[0].next_attempt_s.has_value());
  EXPECT_EQ((*parsed)[0].ages[0], 3u);
  EXPECT_EQ((*parsed)[1].domain, "b\"odd.test");
  EXPECT_EQ((*parsed)[1].next_attempt_s, 120);
}

TEST(QueueMergeTest, EmptyQueue) {
  auto parsed = ParseQueueJson(RenderQueue({}, true));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->empty());
}

TEST(QueueMergeTest, RefusesOtherBodies) {
  EXPECT_FALSE(ParseQueueJson("").ok());
  EXPECT_FALSE(ParseQueueJson("DOMAIN MSGS\n").ok());
  EXPECT_FALSE(ParseQueueJson("{\"domains\":{\"a\":{\"messages\":x}}}").ok());
  EXPECT_FALSE(ParseQueueJson("{\"domains\":{\"a\":{\"messages\":1").ok());
}

TEST(QueueMergeTest, SumsPerDomainAcrossNodes) {
  std::vector<DomainSummary> merged = MergeQueues({
      {Row("a.test", 3, 60, "etrn"), Row("b.test", 1, 5, "retry", 300)},
      {Row("a.test", 2, 600, "etrn"), Row("b.test", 4, 1, "running", 30)},
      {Row("c.test", 7, 7, "held")},
  });
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].domain, "a.test");
  EXPECT_EQ(merged[0].messages, 5u);
  EXPECT_EQ(merged[0].recipients, 10u);
  EXPECT_EQ(merged[0].bytes, 5000u);
  EXPECT_EQ(merged[0].oldest_age_s, 600);
  EXPECT_EQ(merged[0].state, "etrn");
  EXPECT_EQ(merged[0].ages[0], 5u);
  EXPECT_EQ(merged[1].messages, 5u);
  EXPECT_EQ(merged[1].state, "mixed");
  EXPECT_EQ(merged[1].next_attempt_s, 30);
  EXPECT_EQ(merged[2].messages, 7u);
}

}  // namespace
}  // namespace etrnd::control
