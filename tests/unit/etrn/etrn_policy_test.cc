#include "etrnd/etrn/etrn_policy.h"

#include <string>

#include "gtest/gtest.h"

namespace etrnd::etrn {
namespace {

IpAddress Ip(std::string_view text) { return *IpAddress::Parse(text); }

const IpAddress kCustomer = Ip("192.0.2.10");
const IpAddress kStranger = Ip("198.51.100.7");

class EtrnPolicyTest : public ::testing::Test {
 protected:
  EtrnPolicyTest() {
    auto parsed = config::DomainsTable::Parse(
        "open.example      127.0.0.1:2626\n"
        "locked.example    127.0.0.1:2626 etrn=192.0.2.0/24,2001:db8::/32\n"
        ".sub.example      127.0.0.1:2626\n"
        "# one customer owns example.com and all of its subdomains\n"
        "example.com       127.0.0.1:2626 etrn=192.0.2.10\n"
        ".example.com      127.0.0.1:2626 etrn=192.0.2.10\n"
        "other.example.com 127.0.0.1:2626 etrn=203.0.113.1\n"
        "# two customers under one parent\n"
        "a.shared.net      127.0.0.1:2626\n"
        "b.shared.net      127.0.0.1:2626\n"
        "# only subdomains\n"
        ".only-subs.org    127.0.0.1:2626 queue=dialup\n"
        "dial1.example     127.0.0.1:2626 queue=dialup\n"
        "dial2.example     127.0.0.1:2626 queue=dialup etrn=203.0.113.1\n"
        "vip.example       127.0.0.1:2626 queue=vip etrn=203.0.113.1\n"
        "# SMTP AUTH users (auth=): alone, or beside etrn=\n"
        "roam.example      127.0.0.1:2626 etrn=203.0.113.1 auth=carol\n"
        "users.example     127.0.0.1:2626 auth=carol,dave queue=roaming\n"
        ".users.example    127.0.0.1:2626 auth=carol\n"
        "x.users.example   127.0.0.1:2626 auth=dave\n",
        "test.conf");
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    table_ = *parsed;
  }

  EtrnPlan Plan(std::string_view argument, const IpAddress& client = kCustomer) {
    return PlanEtrn(*table_, argument, client);
  }
  std::string Reply(std::string_view argument, const IpAddress& client = kCustomer) {
    EtrnPlan plan = Plan(argument, client);
    return plan.reply.value_or("(accepted)");
  }
  bool Allowed(std::string_view argument, std::string_view domain,
               const IpAddress& client = kCustomer) {
    EtrnPlan plan = Plan(argument, client);
    EXPECT_FALSE(plan.refused()) << *plan.reply;
    return DomainAllowed(*table_, plan, domain, client);
  }

  std::shared_ptr<const config::DomainsTable> table_;
};

TEST_F(EtrnPolicyTest, NoArgument) { EXPECT_EQ(Reply(""), "501 5.5.4 Syntax: ETRN [@|#]node"); }

TEST_F(EtrnPolicyTest, SyntaxErrorsAre501) {
  EXPECT_EQ(Reply("nodot").rfind("501 5.5.4 ", 0), 0u);
  EXPECT_EQ(Reply("bad!char.example").rfind("501 5.5.4 ", 0), 0u);
  EXPECT_EQ(Reply(std::string(256, 'a')).rfind("501 5.5.4 ", 0), 0u);
}

TEST_F(EtrnPolicyTest, NodeNotServedIs459) {
  EXPECT_EQ(Reply("unknown.example"),
            "459 4.7.1 Node unknown.example not allowed: not served here");
  // ".sub.example" does not cover sub.example itself.
  EXPECT_EQ(Reply("sub.example"), "459 4.7.1 Node sub.example not allowed: not served here");
}

TEST_F(EtrnPolicyTest, NodeServedAndPermitted) {
  EtrnPlan plan = Plan("Open.Example");
  EXPECT_FALSE(plan.refused());
  EXPECT_EQ(plan.argument.form, EtrnForm::kNode);
  EXPECT_EQ(plan.argument.name, "open.example");
  EXPECT_EQ(plan.argument.as_sent, "Open.Example");
  EXPECT_FALSE(Plan("open.example", kStranger).refused());  // no etrn= list: anyone
  EXPECT_FALSE(Plan("host.sub.example").refused());         // via the .parent entry
}

TEST_F(EtrnPolicyTest, ClientNotInEtrnListIs459) {
  EXPECT_FALSE(Plan("locked.example").refused());
  EXPECT_FALSE(Plan("locked.example", Ip("2001:db8::5")).refused());
  EXPECT_FALSE(Plan("locked.example", Ip("::ffff:192.0.2.99")).refused());
  EXPECT_EQ(Reply("LOCKED.example", kStranger),
            "459 4.7.1 Node LOCKED.example not allowed: ETRN not permitted from this address");
}

TEST_F(EtrnPolicyTest, NodeUsesTheEntryRcptWouldUse) {
  // other.example.com has its own entry that only 203.0.113.1 may use.
  EXPECT_TRUE(Plan("other.example.com").refused());
  EXPECT_FALSE(Plan("other.example.com", Ip("203.0.113.1")).refused());
  EXPECT_FALSE(Plan("www.example.com").refused());
}

TEST_F(EtrnPolicyTest, NodeDomainAllowedOnlyForThatDomain) {
  EXPECT_TRUE(Allowed("open.example", "open.example"));
  EXPECT_TRUE(Allowed("open.example", "OPEN.example."));
  EXPECT_FALSE(Allowed("open.example", "locked.example"));
}

TEST_F(EtrnPolicyTest, SubtreeOfTopLevelDomainIsRefused) {
  EXPECT_EQ(Reply("@com"), "459 4.7.1 Node @com not allowed: not served here");
  EXPECT_EQ(Reply("@example"), "459 4.7.1 Node @example not allowed: not served here");
}

TEST_F(EtrnPolicyTest, SubtreeOfParentOfSeveralCustomersIsRefused) {
  EXPECT_EQ(Reply("@shared.net"), "459 4.7.1 Node @shared.net not allowed: not served here");
  EXPECT_FALSE(Plan("@a.shared.net").refused());  // a customer's own domain is fine
}

TEST_F(EtrnPolicyTest, SubtreeOwnedByOneCustomer) {
  EtrnPlan plan = Plan("@Example.COM");
  ASSERT_FALSE(plan.refused()) << *plan.reply;
  EXPECT_EQ(plan.argument.form, EtrnForm::kSubtree);
  EXPECT_EQ(plan.argument.name, "example.com");
  EXPECT_TRUE(DomainAllowed(*table_, plan, "example.com", kCustomer));
  EXPECT_TRUE(DomainAllowed(*table_, plan, "www.example.com", kCustomer));
  EXPECT_TRUE(DomainAllowed(*table_, plan, "a.b.Example.Com", kCustomer));
  // A subdomain with its own entry that forbids this client is skipped.
  EXPECT_FALSE(DomainAllowed(*table_, plan, "other.example.com", kCustomer));
  // Outside the subtree, even when the client could ETRN it on its own.
  EXPECT_FALSE(DomainAllowed(*table_, plan, "open.example", kCustomer));
  EXPECT_FALSE(DomainAllowed(*table_, plan, "badexample.com", kCustomer));
  // A domain not served at all never takes part.
  EXPECT_FALSE(DomainAllowed(*table_, plan, "example.org", kCustomer));
}

TEST_F(EtrnPolicyTest, SubtreeRefusedWhenOwnerEntryForbidsClient) {
  EXPECT_EQ(Reply("@example.com", kStranger),
            "459 4.7.1 Node @example.com not allowed: ETRN not permitted from this address");
}

TEST_F(EtrnPolicyTest, SubtreeWithOnlySubdomainsEntry) {
  // only-subs.org itself is not served, but ".only-subs.org" is one entry.
  EtrnPlan plan = Plan("@only-subs.org");
  ASSERT_FALSE(plan.refused()) << *plan.reply;
  EXPECT_TRUE(DomainAllowed(*table_, plan, "x.only-subs.org", kCustomer));
  EXPECT_FALSE(DomainAllowed(*table_, plan, "only-subs.org", kCustomer));
}

TEST_F(EtrnPolicyTest, SubtreeOfDomainCoveredByParentEntry) {
  EtrnPlan plan = Plan("@deep.sub.example");
  ASSERT_FALSE(plan.refused()) << *plan.reply;
  EXPECT_TRUE(DomainAllowed(*table_, plan, "deep.sub.example", kCustomer));
  EXPECT_TRUE(DomainAllowed(*table_, plan, "x.deep.sub.example", kCustomer));
  EXPECT_FALSE(DomainAllowed(*table_, plan, "y.sub.example", kCustomer));
}

TEST_F(EtrnPolicyTest, QueueForm) {
  EtrnPlan plan = Plan("#DialUp");
  ASSERT_FALSE(plan.refused()) << *plan.reply;
  EXPECT_EQ(plan.argument.form, EtrnForm::kQueue);
  EXPECT_EQ(plan.argument.name, "dialup");
  EXPECT_TRUE(DomainAllowed(*table_, plan, "dial1.example", kCustomer));
  EXPECT_TRUE(DomainAllowed(*table_, plan, "host.only-subs.org", kCustomer));
  // In the queue, but its entry does not let this client ETRN.
  EXPECT_FALSE(DomainAllowed(*table_, plan, "dial2.example", kCustomer));
  // Not in the queue.
  EXPECT_FALSE(DomainAllowed(*table_, plan, "open.example", kCustomer));
  EXPECT_FALSE(DomainAllowed(*table_, plan, "vip.example", kCustomer));
}

TEST_F(EtrnPolicyTest, UnknownQueueIs459) {
  EXPECT_EQ(Reply("#nosuch"), "459 4.7.1 Node #nosuch not allowed: no such queue");
}

TEST_F(EtrnPolicyTest, QueueNoMemberPermitsClientIs459) {
  EXPECT_EQ(Reply("#vip"), "459 4.7.1 Node #vip not allowed: ETRN not permitted from this address");
  EXPECT_FALSE(Plan("#vip", Ip("203.0.113.1")).refused());
}

TEST_F(EtrnPolicyTest, RefusedPlanAllowsNothing) {
  EtrnPlan plan = Plan("unknown.example");
  ASSERT_TRUE(plan.refused());
  EXPECT_FALSE(DomainAllowed(*table_, plan, "open.example", kCustomer));
}

TEST_F(EtrnPolicyTest, AuthUserMayEtrnFromAnyAddress) {
  EXPECT_FALSE(PlanEtrn(*table_, "roam.example", kStranger, "carol").refused());
  EXPECT_FALSE(PlanEtrn(*table_, "roam.example", Ip("203.0.113.1"), "").refused());
  EXPECT_EQ(PlanEtrn(*table_, "roam.example", kStranger, "").reply.value_or(""),
            "459 4.7.1 Node roam.example not allowed: ETRN not permitted from this address");
  EXPECT_TRUE(PlanEtrn(*table_, "roam.example", kStranger, "dave").refused());
  // auth= alone: nobody else, whatever the address.
  EXPECT_TRUE(PlanEtrn(*table_, "users.example", kCustomer, "").refused());
  EXPECT_FALSE(PlanEtrn(*table_, "users.example", kCustomer, "dave").refused());
  // An entry without etrn= or auth= stays open to everyone.
  EXPECT_FALSE(PlanEtrn(*table_, "open.example", kStranger, "carol").refused());
}

TEST_F(EtrnPolicyTest, AuthUserSubtreeSkipsEntriesNotTheirs) {
  EtrnPlan plan = PlanEtrn(*table_, "@users.example", kStranger, "carol");
  ASSERT_FALSE(plan.refused()) << *plan.reply;
  EXPECT_EQ(plan.auth_user, "carol");
  EXPECT_TRUE(DomainAllowed(*table_, plan, "users.example", kStranger));
  EXPECT_TRUE(DomainAllowed(*table_, plan, "a.users.example", kStranger));
  EXPECT_FALSE(DomainAllowed(*table_, plan, "x.users.example", kStranger));  // dave's
  // dave owns users.example itself, so @users.example is his too; the
  // subdomains under carol's ".users.example" entry are skipped.
  EtrnPlan dave = PlanEtrn(*table_, "@users.example", kStranger, "dave");
  ASSERT_FALSE(dave.refused());
  EXPECT_TRUE(DomainAllowed(*table_, dave, "x.users.example", kStranger));
  EXPECT_FALSE(DomainAllowed(*table_, dave, "a.users.example", kStranger));
  EXPECT_TRUE(PlanEtrn(*table_, "@users.example", kStranger, "").refused());
}

TEST_F(EtrnPolicyTest, AuthUserQueue) {
  EXPECT_FALSE(PlanEtrn(*table_, "#roaming", kStranger, "dave").refused());
  EXPECT_TRUE(PlanEtrn(*table_, "#roaming", kStranger, "").refused());
}

TEST(EtrnRepliesTest, ExactTexts) {
  EXPECT_EQ(ReplyNothingWaiting("@Example.com"),
            "251 2.0.0 OK, no messages waiting for node @Example.com");
  EXPECT_EQ(ReplyStarted(17, "example.com"),
            "253 2.0.0 OK, 17 pending messages for node example.com started");
  EXPECT_EQ(ReplyForCount(0, "#dialup"), "251 2.0.0 OK, no messages waiting for node #dialup");
  EXPECT_EQ(ReplyForCount(3, "#dialup"),
            "253 2.0.0 OK, 3 pending messages for node #dialup started");
  EXPECT_EQ(ReplyUnableToQueue("example.com"),
            "458 4.3.0 Unable to queue messages for node example.com");
  EXPECT_EQ(ReplyNotAllowed("@com", "not served here"),
            "459 4.7.1 Node @com not allowed: not served here");
}

}  // namespace
}  // namespace etrnd::etrn
