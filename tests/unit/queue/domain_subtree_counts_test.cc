// The index's subtree aggregates (ETRN @domain) and its resumable subtree
// walk: checked case by case, then against a brute-force model under a fixed
// random sequence of adds, finishes and holds.
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "etrnd/queue/domain_queue_index.h"
#include "gtest/gtest.h"

namespace etrnd::queue {
namespace {

MessageKey Key(uint64_t n) {
  return MessageKey::FromLocation(spool::RecordLocation{0, 3, static_cast<uint32_t>(n * 64), 60});
}

const uint32_t kFirst[] = {0};

QueuedCounts Counts(uint64_t messages, uint32_t domains, uint64_t held_messages = 0,
                    uint32_t held_domains = 0) {
  return QueuedCounts{messages, held_messages, domains, held_domains};
}

TEST(DomainSubtreeCountsTest, SumsTheDomainsOfASubtree) {
  DomainQueueIndex index;
  index.AddRecipients("example.com", Key(1), kFirst);
  index.AddRecipients("a.example.com", Key(2), kFirst);
  index.AddRecipients("a.example.com", Key(3), kFirst);
  index.AddRecipients("x.b.example.com", Key(4), kFirst);
  index.AddRecipients("other.com", Key(5), kFirst);
  EXPECT_EQ(index.CountUnder("example.com"), Counts(4, 3));
  EXPECT_EQ(index.CountUnder("EXAMPLE.com."), Counts(4, 3));
  EXPECT_EQ(index.CountUnder("b.example.com"), Counts(1, 1));
  EXPECT_EQ(index.CountUnder("a.example.com"), Counts(2, 1));
  EXPECT_EQ(index.CountUnder("nothing.example.com"), Counts(0, 0));
  // TLD-only parents are not indexed: "com" counts only a domain "com".
  EXPECT_EQ(index.CountUnder("com"), Counts(0, 0));
  EXPECT_EQ(index.CountsOf("a.example.com"), Counts(2, 1));
}

// SPEC 6: n sums per matched domain, so a message with recipients in two
// subdomains counts twice; it leaves each domain with its own recipients.
TEST(DomainSubtreeCountsTest, AMessageForTwoSubdomainsCountsOncePerDomain) {
  DomainQueueIndex index;
  const uint32_t first[] = {0};
  const uint32_t second[] = {1};
  index.AddRecipients("a.example.com", Key(1), first);
  index.AddRecipients("b.example.com", Key(1), second);
  EXPECT_EQ(index.CountUnder("example.com"), Counts(2, 2));
  EXPECT_TRUE(index.FinishRecipient("a.example.com", Key(1), 0));
  EXPECT_EQ(index.CountUnder("example.com"), Counts(1, 1));
  EXPECT_TRUE(index.FinishRecipient("b.example.com", Key(1), 1));
  EXPECT_EQ(index.CountUnder("example.com"), Counts(0, 0));
}

TEST(DomainSubtreeCountsTest, AMessageLeavesItsDomainWithItsLastRecipient) {
  DomainQueueIndex index;
  const uint32_t two[] = {0, 1};
  index.AddRecipients("a.example.com", Key(1), two);
  EXPECT_EQ(index.CountUnder("example.com"), Counts(1, 1));
  EXPECT_TRUE(index.FinishRecipient("a.example.com", Key(1), 0));
  EXPECT_EQ(index.CountUnder("example.com"), Counts(1, 1));
  EXPECT_TRUE(index.FinishRecipient("a.example.com", Key(1), 1));
  EXPECT_EQ(index.CountUnder("example.com"), Counts(0, 0));
}

TEST(DomainSubtreeCountsTest, HeldDomainsCountAsHeldBeforeAndAfterTheyAreQueued) {
  DomainQueueIndex index;
  index.SetHeld("A.example.com", true);  // not queued yet
  EXPECT_TRUE(index.IsHeld("a.example.com"));
  index.AddRecipients("a.example.com", Key(1), kFirst);
  index.AddRecipients("a.example.com", Key(2), kFirst);
  index.AddRecipients("b.example.com", Key(3), kFirst);
  EXPECT_EQ(index.CountUnder("example.com"), Counts(3, 2, 2, 1));
  index.SetHeld("b.example.com", true);
  EXPECT_EQ(index.CountUnder("example.com"), Counts(3, 2, 3, 2));
  index.SetHeld("a.example.com", false);
  EXPECT_EQ(index.CountUnder("example.com"), Counts(3, 2, 1, 1));
  EXPECT_EQ(index.CountsOf("b.example.com"), Counts(1, 1, 1, 1));
  EXPECT_EQ(index.held_count(), 1u);
  // The hold outlives the domain's mail.
  EXPECT_TRUE(index.FinishRecipient("b.example.com", Key(3), 0));
  EXPECT_TRUE(index.IsHeld("b.example.com"));
  index.AddRecipients("b.example.com", Key(4), kFirst);
  EXPECT_EQ(index.CountUnder("example.com"), Counts(3, 2, 1, 1));
}

// ---- The walk in slices ----

std::vector<std::string> WalkAll(const DomainQueueIndex& index, std::string_view parent,
                                 size_t limit, std::optional<std::string> after = std::nullopt) {
  std::vector<std::string> visited;
  do {
    after = index.ForEachQueuedDomainUnderAfter(
        parent, after, limit,
        [&](std::string_view domain, size_t) { visited.emplace_back(domain); });
  } while (after.has_value());
  return visited;
}

TEST(DomainSubtreeWalkTest, VisitsTheParentThenItsSubtreeOnly) {
  DomainQueueIndex index;
  uint64_t n = 0;
  for (const char* domain : {"example.com", "a.example.com", "x.b.example.com", "x-example.com",
                             "aexample.com", "example.com.au", "b.example.org", "e.com"}) {
    index.AddRecipients(domain, Key(++n), kFirst);
  }
  for (size_t limit : {1, 2, 3, 100}) {
    std::vector<std::string> visited = WalkAll(index, "example.com", limit);
    ASSERT_FALSE(visited.empty());
    EXPECT_EQ(visited.front(), "example.com");
    EXPECT_EQ(std::multiset<std::string>(visited.begin(), visited.end()),
              (std::multiset<std::string>{"example.com", "a.example.com", "x.b.example.com"}))
        << limit;
  }
  // `after` = the parent itself: only what is below it.
  EXPECT_EQ(WalkAll(index, "example.com", 1, "example.com").size(), 2u);
  EXPECT_EQ(WalkAll(index, "nothing.example.com", 4).size(), 0u);
  EXPECT_EQ(WalkAll(index, "com", 4).size(), 0u);  // TLD-only: itself
}

TEST(DomainSubtreeWalkTest, ResumesAcrossInsertsAndErasesBetweenSlices) {
  DomainQueueIndex index;
  std::mt19937 random(7);
  std::set<std::string> queued;
  uint64_t next_key = 0;
  std::map<std::string, uint64_t> key_of;
  auto add = [&](const std::string& domain) {
    if (!queued.insert(domain).second) return;
    key_of[domain] = ++next_key;
    index.AddRecipients(domain, Key(next_key), kFirst);
  };
  auto erase = [&](const std::string& domain) {
    if (queued.erase(domain) == 0) return;
    EXPECT_TRUE(index.FinishRecipient(domain, Key(key_of[domain]), 0));
  };
  auto name = [](size_t i) { return "h" + std::to_string(i) + ".parent.test"; };
  for (size_t i = 0; i < 200; i += 2) add(name(i));
  add("other.test");
  const std::set<std::string> at_start = queued;
  std::multiset<std::string> visited;
  std::set<std::string> erased_early;  // gone before the walk could reach them
  std::optional<std::string> cursor;
  do {
    cursor = index.ForEachQueuedDomainUnderAfter("parent.test", cursor, 7,
                                                 [&](std::string_view domain, size_t count) {
                                                   EXPECT_EQ(count, 1u);
                                                   visited.emplace(domain);
                                                 });
    for (int change = 0; change < 5; ++change) {
      const std::string domain = name(random() % 300);
      if (random() % 2 == 0) {
        add(domain);
      } else {
        if (!visited.contains(domain)) erased_early.insert(domain);
        erase(domain);
      }
    }
  } while (cursor.has_value());
  for (const std::string& domain : visited) EXPECT_EQ(visited.count(domain), 1u) << domain;
  EXPECT_FALSE(visited.contains("other.test"));
  // Every domain queued from start to end was visited.
  for (const std::string& domain : at_start) {
    if (domain != "other.test" && queued.contains(domain) && !erased_early.contains(domain)) {
      EXPECT_TRUE(visited.contains(domain)) << domain;
    }
  }
}

// ---- Property: the aggregates equal a brute-force sum ----

struct Model {
  std::map<std::string, std::map<uint64_t, std::set<uint32_t>>> queued;
  std::set<std::string> held;

  static bool Under(const std::string& domain, const std::string& parent) {
    return domain == parent ||
           (domain.size() > parent.size() &&
            domain.compare(domain.size() - parent.size(), parent.size(), parent) == 0 &&
            domain[domain.size() - parent.size() - 1] == '.');
  }
  QueuedCounts CountUnder(const std::string& parent) const {
    QueuedCounts counts;
    const bool tld = parent.find('.') == std::string::npos;
    for (const auto& [domain, messages] : queued) {
      if (!(tld ? domain == parent : Under(domain, parent))) continue;
      const bool is_held = held.contains(domain);
      counts.domains += 1;
      counts.held_domains += is_held ? 1 : 0;
      counts.messages += messages.size();
      counts.held_messages += is_held ? messages.size() : 0;
    }
    return counts;
  }
};

TEST(DomainSubtreeCountsTest, MatchesABruteForceModelUnderRandomOperations) {
  const std::vector<std::string> domains = {
      "example.com",        "a.example.com",     "b.example.com",
      "x.a.example.com",    "y.x.a.example.com", "other.org",
      "a.other.org",        "x-example.com",     "com",
      "a.b.c.d.example.com"};
  const std::vector<std::string> parents = {"example.com",
                                            "a.example.com",
                                            "x.a.example.com",
                                            "b.c.d.example.com",
                                            "c.d.example.com",
                                            "other.org",
                                            "com",
                                            "org",
                                            "d.example.com"};
  std::mt19937 random(20261204);
  DomainQueueIndex index;
  Model model;
  for (int step = 0; step < 20000; ++step) {
    const std::string& domain = domains[random() % domains.size()];
    const uint64_t message = random() % 40;
    const uint32_t recipient = random() % 3;
    switch (random() % 5) {
      case 0:
      case 1: {
        const uint32_t indexes[] = {recipient, (recipient + 1) % 3};
        const size_t count = 1 + random() % 2;
        size_t expected = 0;
        for (size_t i = 0; i < count; ++i) {
          expected += model.queued[domain][message].insert(indexes[i]).second ? 1 : 0;
        }
        EXPECT_EQ(index.AddRecipients(domain, Key(message), std::span(indexes, count)), expected);
        break;
      }
      case 2:
      case 3: {
        auto domain_it = model.queued.find(domain);
        bool expected = false;
        if (domain_it != model.queued.end()) {
          auto it = domain_it->second.find(message);
          if (it != domain_it->second.end() && it->second.erase(recipient) == 1) {
            expected = true;
            if (it->second.empty()) domain_it->second.erase(it);
            if (domain_it->second.empty()) model.queued.erase(domain_it);
          }
        }
        EXPECT_EQ(index.FinishRecipient(domain, Key(message), recipient), expected);
        break;
      }
      case 4: {
        const bool held = random() % 2 == 0;
        if (held) {
          model.held.insert(domain);
        } else {
          model.held.erase(domain);
        }
        index.SetHeld(domain, held);
        break;
      }
    }
    std::erase_if(model.queued, [](const auto& entry) { return entry.second.empty(); });
    if (step % 10 != 0) continue;
    for (const std::string& parent : parents) {
      ASSERT_EQ(index.CountUnder(parent), model.CountUnder(parent)) << parent << " step " << step;
    }
    for (const std::string& name : domains) {
      const auto it = model.queued.find(name);
      ASSERT_EQ(index.CountDomain(name), it == model.queued.end() ? 0 : it->second.size());
    }
  }
}

}  // namespace
}  // namespace etrnd::queue
