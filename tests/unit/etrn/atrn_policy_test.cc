#include "etrnd/etrn/atrn_policy.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace etrnd::etrn {
namespace {

using ::testing::ElementsAre;

class AtrnPolicyTest : public ::testing::Test {
 protected:
  AtrnPolicyTest() {
    auto parsed = config::DomainsTable::Parse(
        "alice.example     127.0.0.1:2626 hold auth=alice\n"
        "shared.example    127.0.0.1:2626 hold auth=bob,alice\n"
        ".alice.net        127.0.0.1:2626 hold auth=alice\n"
        "bob.example       127.0.0.1:2626 auth=bob\n"
        "nobody.example    127.0.0.1:2626\n"
        "# a more specific entry without auth= takes a subdomain away\n"
        "private.alice.net 127.0.0.1:2626\n",
        "test.conf");
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    table_ = *parsed;
  }

  AtrnPlan Plan(std::string_view user, std::string_view argument) {
    return PlanAtrn(*table_, user, argument);
  }

  std::shared_ptr<const config::DomainsTable> table_;
};

TEST_F(AtrnPolicyTest, NoArgumentTakesEveryDomainNamingTheUser) {
  AtrnPlan plan = Plan("alice", "");
  ASSERT_FALSE(plan.refused());
  EXPECT_THAT(plan.domains, ElementsAre("alice.example", "shared.example"));
  EXPECT_THAT(plan.subtrees, ElementsAre("alice.net"));
}

TEST_F(AtrnPolicyTest, NoArgumentForAUserWithNoDomainIsEmptyNotRefused) {
  // Nothing to turn: the caller answers 453 (no mail), not 450.
  AtrnPlan plan = Plan("mallory", "  ");
  EXPECT_FALSE(plan.refused());
  EXPECT_TRUE(plan.domains.empty());
  EXPECT_TRUE(plan.subtrees.empty());
}

TEST_F(AtrnPolicyTest, NamedDomainsAreNormalizedAndDeduplicated) {
  AtrnPlan plan = Plan("alice", "Alice.Example., shared.example,alice.example");
  ASSERT_FALSE(plan.refused());
  EXPECT_THAT(plan.domains, ElementsAre("alice.example", "shared.example"));
  EXPECT_TRUE(plan.subtrees.empty());
}

TEST_F(AtrnPolicyTest, SubdomainOfAnAuthEntryMayBeNamed) {
  AtrnPlan plan = Plan("alice", "host.alice.net");
  ASSERT_FALSE(plan.refused());
  EXPECT_THAT(plan.domains, ElementsAre("host.alice.net"));
}

TEST_F(AtrnPolicyTest, AnyForeignDomainRefusesTheWholeRequest) {
  EXPECT_EQ(Plan("alice", "alice.example,bob.example").reply, std::string(kAtrnRefused));
  EXPECT_EQ(Plan("alice", "nobody.example").reply, std::string(kAtrnRefused));
  EXPECT_EQ(Plan("alice", "unknown.example").reply, std::string(kAtrnRefused));
  // The ".alice.net" entry covers subdomains only, and a more specific entry wins.
  EXPECT_EQ(Plan("alice", "alice.net").reply, std::string(kAtrnRefused));
  EXPECT_EQ(Plan("alice", "private.alice.net").reply, std::string(kAtrnRefused));
  EXPECT_TRUE(Plan("alice", "alice.example,bob.example").domains.empty());
}

TEST_F(AtrnPolicyTest, UserNamesAreExact) {
  EXPECT_EQ(Plan("Alice", "alice.example").reply, std::string(kAtrnRefused));
  EXPECT_FALSE(UserMayAtrn(*table_, "", "alice.example"));
  EXPECT_TRUE(UserMayAtrn(*table_, "bob", "shared.example"));
}

TEST_F(AtrnPolicyTest, MalformedListIsASyntaxError) {
  EXPECT_EQ(Plan("alice", "alice.example,,shared.example").reply, std::string(kAtrnSyntax));
  EXPECT_EQ(Plan("alice", "bad domain!").reply, std::string(kAtrnSyntax));
  std::string many;
  for (size_t i = 0; i <= kAtrnDomainsMax; ++i) {
    many += (i == 0 ? "" : ",") + std::string("d") + std::to_string(i) + ".alice.net";
  }
  EXPECT_EQ(Plan("alice", many).reply, std::string(kAtrnSyntax));
}

}  // namespace
}  // namespace etrnd::etrn
