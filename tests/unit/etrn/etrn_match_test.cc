// ETRN's counts from the index's aggregates (etrn_match.h) must equal what
// a walk over every queued domain with DomainAllowed() finds, for nested
// entries with different etrn=/auth= lists, queues and held domains; and the
// walk roots with EtrnWalkTakes() must visit exactly those domains.
#include "etrnd/etrn/etrn_match.h"

#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace etrnd::etrn {
namespace {

IpAddress Ip(std::string_view text) { return *IpAddress::Parse(text); }

constexpr std::string_view kTable =
    "example.com        127.0.0.1:2626 etrn=192.0.2.10\n"
    ".example.com       127.0.0.1:2626 etrn=192.0.2.10 queue=dialup\n"
    "other.example.com  127.0.0.1:2626 etrn=203.0.113.1\n"
    ".b.example.com     127.0.0.1:2626 queue=dialup\n"
    "x.b.example.com    127.0.0.1:2626 etrn=203.0.113.1 queue=vip\n"
    ".c.b.example.com   127.0.0.1:2626 etrn=192.0.2.10 auth=carol\n"
    "dial.example.net   127.0.0.1:2626 queue=dialup\n"
    ".net.example.org   127.0.0.1:2626 queue=dialup\n"
    ".example.org       127.0.0.1:2626\n";

const std::vector<std::string> kDomains = {
    "example.com",         "a.example.com",    "other.example.com",  "b.example.com",
    "y.b.example.com",     "x.b.example.com",  "c.b.example.com",    "z.c.b.example.com",
    "w.z.c.b.example.com", "dial.example.net", "q.dial.example.net", "example.org",
    "s.example.org",       "net.example.org",  "t.net.example.org",  "u.t.net.example.org",
    "x-example.com",       "unserved.test"};

const std::vector<std::string> kArguments = {
    "example.com",      "@example.com", "@b.example.com",   "@c.b.example.com",
    "@x.b.example.com", "@example.org", "@net.example.org", "@other.example.com",
    "#dialup",          "#vip",         "@a.example.com"};

struct Asker {
  IpAddress client;
  std::string auth_user;
  bool from_peer = false;
  bool operator_request = false;
};

class EtrnMatchTest : public ::testing::Test {
 protected:
  EtrnMatchTest() {
    auto parsed = config::DomainsTable::Parse(kTable, "test.conf");
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    table_ = *parsed;
  }

  EtrnPlan PlanFor(const std::string& argument, const Asker& asker) const {
    if (asker.operator_request) {
      EtrnPlan plan;
      plan.argument = *ParseEtrnArgument(argument);
      return plan;
    }
    return PlanEtrn(*table_, argument, asker.client, asker.auth_user, asker.from_peer);
  }

  // What FlushForEtrn counted before the aggregates: every queued domain.
  queue::QueuedCounts BruteForce(const EtrnPlan& plan, const Asker& asker) const {
    // A node's entry was checked by the plan (or the operator asks).
    if (plan.argument.form == EtrnForm::kNode) return index_->CountsOf(plan.argument.name);
    std::set<std::string> matched;
    for (const std::string& domain : kDomains) {
      if (index_->CountDomain(domain) == 0) continue;
      bool in;
      if (asker.operator_request) {
        in = plan.argument.form == EtrnForm::kSubtree &&
             (domain == plan.argument.name || domain.ends_with("." + plan.argument.name));
        if (plan.argument.form == EtrnForm::kQueue) {
          for (const config::DomainEntry* member : table_->QueueMembers(plan.argument.name)) {
            in |= member->subdomains_only ? domain.ends_with("." + member->domain)
                                          : domain == member->domain;
          }
        }
      } else {
        in = DomainAllowed(*table_, plan, domain, asker.client);
      }
      if (in) matched.insert(domain);
    }
    queue::QueuedCounts counts;
    for (const std::string& domain : matched) counts += index_->CountsOf(domain);
    return counts;
  }

  std::set<std::string> Walked(const EtrnPlan& plan, const EtrnAsker& asker) const {
    std::set<std::string> taken;
    for (const EtrnWalkRoot& root : EtrnWalkRoots(*table_, plan)) {
      std::optional<std::string> after;
      if (!root.include_below) {
        if (index_->CountDomain(root.parent) > 0 &&
            EtrnWalkTakes(*table_, plan, asker, root.parent)) {
          EXPECT_TRUE(taken.insert(root.parent).second);
        }
        continue;
      }
      if (!root.include_parent) after = root.parent;
      do {
        after = index_->ForEachQueuedDomainUnderAfter(
            root.parent, after, 2, [&](std::string_view domain, size_t) {
              if (EtrnWalkTakes(*table_, plan, asker, domain)) {
                EXPECT_TRUE(taken.emplace(domain).second) << domain;
              }
            });
      } while (after.has_value());
    }
    return taken;
  }

  std::shared_ptr<const config::DomainsTable> table_;
  std::unique_ptr<queue::DomainQueueIndex> index_ = std::make_unique<queue::DomainQueueIndex>();
};

TEST_F(EtrnMatchTest, AggregatesEqualAWalkOverEveryQueuedDomain) {
  const std::vector<Asker> askers = {{Ip("192.0.2.10"), ""},
                                     {Ip("203.0.113.1"), ""},
                                     {Ip("198.51.100.7"), ""},
                                     {Ip("198.51.100.7"), "carol"},
                                     {Ip("198.51.100.7"), "", /*from_peer=*/true},
                                     {Ip("0.0.0.0"), "", false, /*operator_request=*/true}};
  std::mt19937 random(1985);
  uint64_t next_message = 0;
  int compared = 0;
  for (int round = 0; round < 60; ++round) {
    // A random queue: domains with 0..3 messages, some of them held.
    index_ = std::make_unique<queue::DomainQueueIndex>();
    for (const std::string& domain : kDomains) {
      const size_t messages = random() % 4;
      for (size_t m = 0; m < messages; ++m) {
        const uint32_t first[] = {0};
        index_->AddRecipients(
            domain,
            queue::MessageKey::FromLocation(spool::RecordLocation{0, 1, ++next_message * 8, 8}),
            first);
      }
      if (random() % 4 == 0) index_->SetHeld(domain, true);
    }
    for (const std::string& argument : kArguments) {
      for (const Asker& asker : askers) {
        const EtrnPlan plan = PlanFor(argument, asker);
        if (plan.refused()) continue;
        const EtrnAsker how{asker.client, asker.operator_request};
        const queue::QueuedCounts counted = CountEtrnMatches(*table_, plan, how, *index_);
        ASSERT_EQ(counted, BruteForce(plan, asker))
            << argument << " from " << asker.client.ToString() << " round " << round;
        if (plan.argument.form == EtrnForm::kNode) continue;
        queue::QueuedCounts walked;
        for (const std::string& domain : Walked(plan, how)) walked += index_->CountsOf(domain);
        ASSERT_EQ(walked, counted) << argument << " round " << round;
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 1000);
}

TEST_F(EtrnMatchTest, CountsOnlyTheEntriesThatLetTheClientEtrn) {
  const uint32_t first[] = {0};
  uint64_t n = 0;
  for (const char* domain : {"example.com", "a.example.com", "other.example.com", "x.b.example.com",
                             "z.c.b.example.com"}) {
    index_->AddRecipients(
        domain, queue::MessageKey::FromLocation(spool::RecordLocation{0, 1, ++n * 8, 8}), first);
  }
  const IpAddress customer = Ip("192.0.2.10");
  const EtrnPlan plan = PlanEtrn(*table_, "@example.com", customer);
  ASSERT_FALSE(plan.refused());
  // other.example.com and x.b.example.com need 203.0.113.1.
  const queue::QueuedCounts counts = CountEtrnMatches(*table_, plan, {customer}, *index_);
  EXPECT_EQ(counts.domains, 3u);
  EXPECT_EQ(counts.messages, 3u);
  const EtrnPlan queue_plan = PlanEtrn(*table_, "#dialup", Ip("203.0.113.1"));
  ASSERT_FALSE(queue_plan.refused());
  // .example.com's members need 192.0.2.10; .b.example.com lets anyone.
  EXPECT_EQ(CountEtrnMatches(*table_, queue_plan, {Ip("203.0.113.1")}, *index_).domains, 0u);
  EXPECT_EQ(CountEtrnMatches(*table_, queue_plan, {customer}, *index_).domains, 1u);
}

}  // namespace
}  // namespace etrnd::etrn
