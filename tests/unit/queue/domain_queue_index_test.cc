#include "etrnd/queue/domain_queue_index.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace etrnd::queue {
namespace {

MessageKey Key(uint64_t n) {
  return MessageKey::FromLocation(spool::RecordLocation{1, 7, n * 100, 90});
}

std::map<std::string, size_t> Under(const DomainQueueIndex& index, std::string_view parent) {
  std::map<std::string, size_t> visited;
  index.ForEachQueuedDomainUnder(parent, [&](std::string_view domain, size_t count) {
    EXPECT_TRUE(visited.emplace(std::string(domain), count).second) << domain;
  });
  return visited;
}

TEST(MessageKeyTest, RoundTripsALocation) {
  const spool::RecordLocation location{5, 123456789, 4000000000u, 777};
  const MessageKey key = MessageKey::FromLocation(location);
  EXPECT_EQ(key.ToLocation(), location);
  MessageKey without_length = key;
  without_length.length = 0;
  EXPECT_EQ(key, without_length);
}

TEST(MessageKeyDeathTest, ALocationThatDoesNotFitThePackingCrashes) {
  EXPECT_DEATH(MessageKey::FromLocation(spool::RecordLocation{0, 1, uint64_t{1} << 32, 10}),
               "check failed");
  EXPECT_DEATH(MessageKey::FromLocation(spool::RecordLocation{0, kSegmentIdMask + 1, 0, 10}),
               "check failed");
  EXPECT_DEATH(MessageKey::FromLocation(spool::RecordLocation{1u << 24, 1, 0, 10}), "check failed");
}

TEST(DomainQueueIndexTest, CountsMessagesPerDomainCaseInsensitively) {
  DomainQueueIndex index;
  const uint32_t first[] = {0};
  EXPECT_EQ(index.AddRecipients("Example.COM", Key(1), first), 1u);
  EXPECT_EQ(index.AddRecipients("example.com.", Key(2), first), 1u);
  EXPECT_EQ(index.CountDomain("example.com"), 2u);
  EXPECT_EQ(index.CountDomain("EXAMPLE.com"), 2u);
  EXPECT_EQ(index.CountDomain("other.com"), 0u);
  EXPECT_EQ(index.domains_count(), 1u);
  EXPECT_EQ(index.queued_recipients_count(), 2u);
}

TEST(DomainQueueIndexTest, MessageLeavesDomainWithItsLastRecipientThere) {
  DomainQueueIndex index;
  const uint32_t three[] = {0, 2, 5};
  EXPECT_EQ(index.AddRecipients("a.example", Key(1), three), 3u);
  EXPECT_EQ(index.AddRecipients("a.example", Key(1), three), 0u);  // already queued
  EXPECT_EQ(index.CountDomain("a.example"), 1u);
  EXPECT_EQ(index.CountRecipients("a.example"), 3u);
  EXPECT_TRUE(index.FinishRecipient("a.example", Key(1), 2));
  EXPECT_FALSE(index.FinishRecipient("a.example", Key(1), 2));  // twice
  EXPECT_FALSE(index.FinishRecipient("a.example", Key(1), 1));  // never queued
  EXPECT_TRUE(index.FinishRecipient("A.EXAMPLE", Key(1), 0));
  EXPECT_EQ(index.CountDomain("a.example"), 1u);
  EXPECT_TRUE(index.FinishRecipient("a.example", Key(1), 5));
  EXPECT_EQ(index.CountDomain("a.example"), 0u);
  EXPECT_EQ(index.domains_count(), 0u);
  EXPECT_EQ(index.queued_messages_count(), 0u);
  EXPECT_EQ(index.queued_recipients_count(), 0u);
}

TEST(DomainQueueIndexTest, MultiDomainMessageIsFinishedPerRecipient) {
  DomainQueueIndex index;
  // RCPT list: 0 x@a.test, 1 y@b.test, 2 z@a.test
  const uint32_t in_a[] = {0, 2};
  const uint32_t in_b[] = {1};
  index.AddRecipients("a.test", Key(9), in_a);
  index.AddRecipients("b.test", Key(9), in_b);
  EXPECT_EQ(index.queued_messages_count(), 2u);
  EXPECT_TRUE(index.FinishRecipient("b.test", Key(9), 1));  // b flushed
  EXPECT_EQ(index.CountDomain("b.test"), 0u);
  EXPECT_EQ(index.CountDomain("a.test"), 1u);
  EXPECT_FALSE(index.FinishRecipient("b.test", Key(9), 0));  // 0 is a's recipient
  std::vector<uint32_t> queued;
  index.ForEachMessage("a.test", [&](const MessageKey& key, const RecipientIndexSet& set) {
    EXPECT_EQ(key.ToLocation(), Key(9).ToLocation());
    queued = set.ToVector();
  });
  std::sort(queued.begin(), queued.end());
  EXPECT_EQ(queued, (std::vector<uint32_t>{0, 2}));
}

TEST(DomainQueueIndexTest, SubtreeVisitsOnlyQueuedDomainsUnderTheParent) {
  DomainQueueIndex index;
  const uint32_t one[] = {0};
  index.AddRecipients("example.com", Key(1), one);
  index.AddRecipients("a.example.com", Key(2), one);
  index.AddRecipients("a.example.com", Key(3), one);
  index.AddRecipients("x.b.example.com", Key(4), one);
  index.AddRecipients("notexample.com", Key(5), one);
  index.AddRecipients("example.org", Key(6), one);

  EXPECT_EQ(Under(index, "example.com"),
            (std::map<std::string, size_t>{
                {"example.com", 1}, {"a.example.com", 2}, {"x.b.example.com", 1}}));
  // b.example.com itself has nothing queued, but a subdomain does.
  EXPECT_EQ(Under(index, "B.Example.Com"), (std::map<std::string, size_t>{{"x.b.example.com", 1}}));
  EXPECT_EQ(Under(index, "a.example.com"), (std::map<std::string, size_t>{{"a.example.com", 2}}));
  EXPECT_TRUE(Under(index, "c.example.com").empty());
  EXPECT_TRUE(Under(index, "xample.com").empty());

  index.FinishRecipient("x.b.example.com", Key(4), 0);
  EXPECT_TRUE(Under(index, "b.example.com").empty());
  EXPECT_EQ(Under(index, "example.com").size(), 2u);
  index.FinishRecipient("a.example.com", Key(2), 0);
  EXPECT_EQ(Under(index, "example.com")["a.example.com"], 1u);
}

TEST(DomainQueueIndexTest, RejectsInvalidDomains) {
  DomainQueueIndex index;
  const uint32_t one[] = {0};
  EXPECT_EQ(index.AddRecipients("", Key(1), one), 0u);
  EXPECT_EQ(index.AddRecipients(std::string(300, 'a'), Key(1), one), 0u);
  EXPECT_EQ(index.AddRecipients("ok.test", Key(1), {}), 0u);
  EXPECT_EQ(index.CountDomain(std::string(300, 'a')), 0u);
  EXPECT_EQ(index.domains_count(), 0u);
}

TEST(DomainQueueIndexTest, MatchesAModelUnderRandomOperations) {
  DomainQueueIndex index;
  // model[domain][message] = set of indexes
  std::map<std::string, std::map<uint64_t, std::set<uint32_t>>> model;
  const std::vector<std::string> domains = {"a.test", "b.a.test", "c.b.a.test", "z.test",
                                            "y.z.test"};
  uint32_t state = 99;
  auto next = [&state](uint32_t bound) {
    state = state * 1103515245u + 12345u;
    return (state >> 16) % bound;
  };
  for (int step = 0; step < 20000; ++step) {
    const std::string& domain = domains[next(domains.size())];
    const uint64_t message = next(20);
    const uint32_t recipient = next(4);
    if (next(2) == 0) {
      const uint32_t indexes[] = {recipient};
      const bool added = model[domain][message].insert(recipient).second;
      ASSERT_EQ(index.AddRecipients(domain, Key(message), indexes), added ? 1u : 0u);
    } else {
      auto& messages = model[domain];
      bool present = messages.contains(message) && messages[message].erase(recipient) == 1;
      if (messages.contains(message) && messages[message].empty()) messages.erase(message);
      ASSERT_EQ(index.FinishRecipient(domain, Key(message), recipient), present);
    }
  }
  size_t total_messages = 0, total_domains = 0;
  for (const auto& [domain, messages] : model) {
    EXPECT_EQ(index.CountDomain(domain), messages.size()) << domain;
    total_messages += messages.size();
    total_domains += messages.empty() ? 0 : 1;
  }
  EXPECT_EQ(index.queued_messages_count(), total_messages);
  EXPECT_EQ(index.domains_count(), total_domains);
  std::map<std::string, size_t> expected_under_a;
  for (const auto& [domain, messages] : model) {
    if (!messages.empty() && domain.ends_with("a.test")) expected_under_a[domain] = messages.size();
  }
  EXPECT_EQ(Under(index, "a.test"), expected_under_a);
}

TEST(DomainQueueIndexTest, MemoryStaysUnder64BytesPerRecipient) {
  DomainQueueIndex index;
  const size_t empty_bytes = index.MemoryBytes();
  const uint32_t one[] = {0};
  constexpr int kMessages = 100000;
  for (int i = 0; i < kMessages; ++i) index.AddRecipients("big.example", Key(i), one);
  const double per_recipient = static_cast<double>(index.MemoryBytes() - empty_bytes) / kMessages;
  EXPECT_LT(per_recipient, 64.0);
  EXPECT_GT(per_recipient, 24.0);  // a 16-byte key and an 8-byte set at least
}

TEST(ShardForDomainTest, StableCaseInsensitiveAndInRange) {
  EXPECT_EQ(ShardForDomain("Example.COM", 8), ShardForDomain("example.com", 8));
  EXPECT_EQ(ShardForDomain("example.com.", 8), ShardForDomain("example.com", 8));
  EXPECT_EQ(ShardForDomain("anything", 1), 0u);
  EXPECT_EQ(ShardForDomain("", 4), 0u);
  std::vector<int> used(4, 0);
  for (int i = 0; i < 1000; ++i) {
    const size_t shard = ShardForDomain("d" + std::to_string(i) + ".test", 4);
    ASSERT_LT(shard, 4u);
    ++used[shard];
  }
  for (int count : used) EXPECT_GT(count, 150);  // roughly even
}

}  // namespace
}  // namespace etrnd::queue
