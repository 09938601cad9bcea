#include "etrnd/config/domains_table.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace etrnd::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::shared_ptr<const DomainsTable> MustParse(std::string_view text) {
  auto table = DomainsTable::Parse(text, "domains.conf");
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? *table : nullptr;
}

std::string ParseError(std::string_view text) {
  auto table = DomainsTable::Parse(text, "domains.conf");
  EXPECT_FALSE(table.ok());
  if (table.ok()) return "";
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(table.status().message());
}

IpAddress Ip(std::string_view text) { return *IpAddress::Parse(text); }

TEST(DomainsTableTest, ParsesEveryOption) {
  auto table =
      MustParse("example.com 127.0.0.1:2626 hold queue=Dialup etrn=10.0.0.0/8,2001:db8::/32\n");
  ASSERT_EQ(table->size(), 1u);
  const DomainEntry& entry = table->entries()[0];
  EXPECT_EQ(entry.id, 0u);
  EXPECT_EQ(entry.domain, "example.com");
  EXPECT_FALSE(entry.subdomains_only);
  EXPECT_EQ(entry.next_hop.kind, NextHop::Kind::kHost);
  EXPECT_EQ(entry.next_hop.host, "127.0.0.1");
  EXPECT_EQ(entry.next_hop.port, 2626);
  EXPECT_TRUE(entry.hold);
  EXPECT_EQ(entry.queue_name, "dialup");
  ASSERT_EQ(entry.etrn_networks.size(), 2u);
  EXPECT_TRUE(entry.AllowsEtrnFrom(Ip("10.1.2.3")));
  EXPECT_TRUE(entry.AllowsEtrnFrom(Ip("2001:db8::7")));
  EXPECT_TRUE(entry.AllowsEtrnFrom(Ip("::ffff:10.9.9.9")));
  EXPECT_FALSE(entry.AllowsEtrnFrom(Ip("192.168.1.1")));
  EXPECT_FALSE(entry.AllowsEtrnFrom(Ip("2001:db9::1")));
  EXPECT_EQ(entry.line, 1);
}

TEST(DomainsTableTest, DefaultsWithoutOptions) {
  auto table = MustParse("example.com mx\n");
  const DomainEntry& entry = table->entries()[0];
  EXPECT_EQ(entry.next_hop.kind, NextHop::Kind::kMx);
  EXPECT_EQ(entry.next_hop.ToString(), "mx");
  EXPECT_FALSE(entry.hold);
  EXPECT_EQ(entry.queue_name, "");
  EXPECT_TRUE(entry.etrn_networks.empty());
  EXPECT_TRUE(entry.AllowsEtrnFrom(Ip("203.0.113.9")));
  EXPECT_TRUE(entry.AllowsEtrnFrom(Ip("::1")));
}

TEST(DomainsTableTest, NextHopForms) {
  auto table = MustParse(
      "a.test 192.0.2.1\n"
      "b.test 192.0.2.1:2525\n"
      "c.test [2001:db8::1]\n"
      "d.test [2001:DB8::2]:26\n"
      "e.test relay.Example.NET:587\n"
      "f.test MX\n"
      "g.test localhost:2626\n");
  const auto& e = table->entries();
  EXPECT_EQ(e[0].next_hop.ToString(), "192.0.2.1:25");
  EXPECT_TRUE(e[0].next_hop.host_is_ip());
  EXPECT_EQ(e[1].next_hop.ToString(), "192.0.2.1:2525");
  EXPECT_EQ(e[2].next_hop.host, "2001:db8::1");
  EXPECT_EQ(e[2].next_hop.port, 25);
  EXPECT_EQ(e[2].next_hop.ToString(), "[2001:db8::1]:25");
  EXPECT_EQ(e[3].next_hop.ToString(), "[2001:db8::2]:26");
  EXPECT_EQ(e[4].next_hop.host, "relay.example.net");
  EXPECT_EQ(e[4].next_hop.port, 587);
  EXPECT_FALSE(e[4].next_hop.host_is_ip());
  EXPECT_EQ(e[5].next_hop.kind, NextHop::Kind::kMx);
  EXPECT_EQ(e[6].next_hop.ToString(), "localhost:2626");
}

TEST(DomainsTableTest, CommentsBlankLinesAndCrlf) {
  auto table = MustParse(
      "# customers\n"
      "\n"
      "   \t\n"
      "  # indented comment\n"
      "example.com 127.0.0.1:2626 hold  # trailing comment\r\n"
      "example.org\t127.0.0.1:2626\r\n"
      "example.net 127.0.0.1:2626");  // no final newline
  ASSERT_EQ(table->size(), 3u);
  EXPECT_EQ(table->entries()[0].line, 5);
  EXPECT_TRUE(table->entries()[0].hold);
  EXPECT_EQ(table->entries()[1].line, 6);
  EXPECT_EQ(table->entries()[2].domain, "example.net");
  EXPECT_EQ(table->entries()[2].line, 7);
}

TEST(DomainsTableTest, EmptyTableServesNothing) {
  auto table = MustParse("# nothing\n");
  EXPECT_EQ(table->size(), 0u);
  EXPECT_EQ(table->Match("example.com"), nullptr);
}

TEST(DomainsTableTest, MatchIsCaseInsensitiveAndIgnoresTrailingDot) {
  auto table = MustParse("Example.COM 127.0.0.1:25\n.Sub.Example.ORG. 127.0.0.1:25\n");
  EXPECT_EQ(table->entries()[0].pattern(), "example.com");
  EXPECT_EQ(table->entries()[1].pattern(), ".sub.example.org");
  EXPECT_EQ(table->Match("example.com"), &table->entries()[0]);
  EXPECT_EQ(table->Match("EXAMPLE.com."), &table->entries()[0]);
  EXPECT_EQ(table->Match("a.SUB.example.org"), &table->entries()[1]);
  EXPECT_EQ(table->Match("a.sub.example.org."), &table->entries()[1]);
}

TEST(DomainsTableTest, SubdomainPatternDoesNotMatchDomainItself) {
  auto table = MustParse(".example.net 127.0.0.1:25\n");
  EXPECT_EQ(table->Match("example.net"), nullptr);
  EXPECT_NE(table->Match("host.example.net"), nullptr);
  EXPECT_NE(table->Match("a.b.c.example.net"), nullptr);
  EXPECT_EQ(table->Match("badexample.net"), nullptr);
  EXPECT_EQ(table->Match("example.net.evil"), nullptr);
}

TEST(DomainsTableTest, ExactEntryBeatsParentAndMostSpecificParentWins) {
  auto table = MustParse(
      ".example.com 10.0.0.1:25\n"
      ".b.example.com 10.0.0.2:25\n"
      "c.b.example.com 10.0.0.3:25\n"
      "example.com 10.0.0.4:25\n");
  EXPECT_EQ(table->Match("x.example.com")->line, 1);
  EXPECT_EQ(table->Match("b.example.com")->line, 1);  // ".b" does not cover b itself
  EXPECT_EQ(table->Match("x.b.example.com")->line, 2);
  EXPECT_EQ(table->Match("y.x.b.example.com")->line, 2);
  EXPECT_EQ(table->Match("c.b.example.com")->line, 3);
  EXPECT_EQ(table->Match("d.c.b.example.com")->line, 2);
  EXPECT_EQ(table->Match("example.com")->line, 4);
}

TEST(DomainsTableTest, MatchRejectsMalformedNames) {
  auto table = MustParse(".example.com 127.0.0.1:25\n");
  EXPECT_EQ(table->Match(""), nullptr);
  EXPECT_EQ(table->Match("."), nullptr);
  EXPECT_EQ(table->Match(".example.com"), nullptr);
  EXPECT_EQ(table->Match("a..example.com"), nullptr);
  EXPECT_EQ(table->Match(std::string(300, 'a') + ".example.com"), nullptr);
}

TEST(DomainsTableTest, SingleLabelSuffixPatternIsAllowed) {
  auto table = MustParse(".test 127.0.0.1:2626\n");
  EXPECT_NE(table->Match("d1.test"), nullptr);
  EXPECT_EQ(table->Match("test"), nullptr);
  EXPECT_NE(table->FindSubdomainsEntry("TEST"), nullptr);
}

TEST(DomainsTableTest, FindSubdomainsEntryIsExactPatternOnly) {
  auto table = MustParse(".example.com 127.0.0.1:25\nexample.org 127.0.0.1:25\n");
  EXPECT_EQ(table->FindSubdomainsEntry("example.com"), &table->entries()[0]);
  EXPECT_EQ(table->FindSubdomainsEntry("Example.Com."), &table->entries()[0]);
  EXPECT_EQ(table->FindSubdomainsEntry("a.example.com"), nullptr);
  EXPECT_EQ(table->FindSubdomainsEntry("com"), nullptr);
  EXPECT_EQ(table->FindSubdomainsEntry("example.org"), nullptr);
}

TEST(DomainsTableTest, QueueMembers) {
  auto table = MustParse(
      "a.example 127.0.0.1:25 queue=dialup\n"
      ".b.example 127.0.0.1:25 queue=DIALUP\n"
      "c.example 127.0.0.1:25 queue=office-1\n"
      "d.example 127.0.0.1:25\n");
  EXPECT_THAT(table->QueueMembers("dialup"),
              ElementsAre(&table->entries()[0], &table->entries()[1]));
  EXPECT_THAT(table->QueueMembers("Dialup"),
              ElementsAre(&table->entries()[0], &table->entries()[1]));
  EXPECT_THAT(table->QueueMembers("office-1"), ElementsAre(&table->entries()[2]));
  EXPECT_TRUE(table->QueueMembers("nosuch").empty());
  EXPECT_TRUE(table->QueueMembers("").empty());
}

TEST(DomainsTableTest, SamePatternInBothFormsIsNotADuplicate) {
  auto table = MustParse("example.com 127.0.0.1:25\n.example.com 127.0.0.2:25\n");
  EXPECT_EQ(table->Match("example.com")->line, 1);
  EXPECT_EQ(table->Match("www.example.com")->line, 2);
}

TEST(DomainsTableTest, MalformedLinesNameFileAndLine) {
  EXPECT_EQ(ParseError("# ok\nexample.com 127.0.0.1:25\nexample.com 127.0.0.2:25\n"),
            "domains.conf:3: duplicate pattern 'example.com' (first on line 2)");
  EXPECT_EQ(ParseError(".a.example 127.0.0.1:25\n.A.Example. 127.0.0.1:25\n"),
            "domains.conf:2: duplicate pattern '.a.example' (first on line 1)");
  EXPECT_EQ(ParseError("ex_ample.com 127.0.0.1:25\n"),
            "domains.conf:1: bad domain pattern 'ex_ample.com': invalid character");
  EXPECT_EQ(ParseError("\nlocalhost 127.0.0.1:25\n"),
            "domains.conf:2: bad domain pattern 'localhost': not a fully qualified domain");
  EXPECT_EQ(ParseError(". 127.0.0.1:25\n"), "domains.conf:1: bad domain pattern '.': empty domain");
  EXPECT_EQ(ParseError("-a.com 127.0.0.1:25\n"),
            "domains.conf:1: bad domain pattern '-a.com': label starts or ends with '-'");
  EXPECT_EQ(ParseError("a..com 127.0.0.1:25\n"),
            "domains.conf:1: bad domain pattern 'a..com': empty label");
  EXPECT_EQ(ParseError("example.com.. 127.0.0.1:25\n"),
            "domains.conf:1: bad domain pattern 'example.com..': empty label");
  EXPECT_EQ(ParseError("..example.com 127.0.0.1:25\n"),
            "domains.conf:1: bad domain pattern '..example.com': empty label");
  EXPECT_EQ(ParseError("1.2.3.4 127.0.0.1:25\n"),
            "domains.conf:1: bad domain pattern '1.2.3.4': numeric top-level label");
  EXPECT_EQ(ParseError(std::string(64, 'a') + ".com 127.0.0.1:25\n"),
            "domains.conf:1: bad domain pattern '" + std::string(64, 'a') +
                ".com': label longer than 63 octets");
  EXPECT_EQ(ParseError("example.com\n"), "domains.conf:1: missing next hop after 'example.com'");
  EXPECT_EQ(ParseError("example.com 127.0.0.1:25 fast\n"), "domains.conf:1: unknown option 'fast'");
  EXPECT_EQ(ParseError("example.com 127.0.0.1:25 etrn=10.0.0.0/33\n"),
            "domains.conf:1: bad CIDR '10.0.0.0/33' in etrn=");
  EXPECT_EQ(ParseError("example.com 127.0.0.1:25 etrn=10.0.0.0/8,bogus\n"),
            "domains.conf:1: bad CIDR 'bogus' in etrn=");
  EXPECT_EQ(ParseError("example.com 127.0.0.1:25 etrn=10.0.0.0/8,\n"),
            "domains.conf:1: bad CIDR '' in etrn=");
  EXPECT_EQ(ParseError("example.com 127.0.0.1:25 etrn=\n"),
            "domains.conf:1: bad CIDR '' in etrn=: empty list");
  EXPECT_EQ(ParseError("example.com 127.0.0.1:25 queue=a/b\n"),
            "domains.conf:1: bad queue name 'a/b' (letters, digits, '-', '_', '.')");
  EXPECT_EQ(ParseError("example.com 127.0.0.1:25 queue=\n"),
            "domains.conf:1: bad queue name '' (letters, digits, '-', '_', '.')");
  EXPECT_EQ(ParseError("example.com 127.0.0.1:25 queue=a queue=b\n"),
            "domains.conf:1: duplicate option 'queue='");
}

TEST(DomainsTableTest, PublicSuffixPatternsAreRefusedWithFileAndLine) {
  const std::string reason =
      "': a public suffix (Public Suffix List): anyone can register below it";
  EXPECT_EQ(ParseError("example.com mx\n.com mx\n"),
            "domains.conf:2: bad domain pattern '.com" + reason);
  EXPECT_EQ(ParseError(".COM. mx\n"), "domains.conf:1: bad domain pattern '.COM." + reason);
  EXPECT_EQ(ParseError("\n\n.co.uk 127.0.0.1:25\n"),
            "domains.conf:3: bad domain pattern '.co.uk" + reason);
  EXPECT_EQ(ParseError("co.uk 127.0.0.1:25\n"),
            "domains.conf:1: bad domain pattern 'co.uk" + reason);
  EXPECT_EQ(ParseError(".uk mx\n"), "domains.conf:1: bad domain pattern '.uk" + reason);
  // A wildcard rule of the list ("*.ck") makes every name one level below a suffix.
  EXPECT_EQ(ParseError(".foo.ck mx\n"), "domains.conf:1: bad domain pattern '.foo.ck" + reason);
  // Exact single-label "com" already fails as not fully qualified.
  EXPECT_THAT(ParseError("com mx\n"), HasSubstr("domains.conf:1: bad domain pattern 'com'"));
}

TEST(DomainsTableTest, DomainsBelowPublicSuffixesAndTestNamesAreAllowed) {
  auto table = MustParse(
      "example.com mx\n"
      ".example.com mx\n"
      "example.co.uk mx\n"
      ".example.co.uk mx\n"
      // Private-section suffixes are allowed (ICANN section only).
      ".blogspot.com mx\n"
      // Names outside the list, used by the test suite and labs.
      ".test 127.0.0.1:25\n"
      "d1.test 127.0.0.1:25\n"
      ".cust.test 127.0.0.1:25\n"
      ".localhost 127.0.0.1:25\n"
      "a.example 127.0.0.1:25\n"
      "example.invalid 127.0.0.1:25\n");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->size(), 11u);
  EXPECT_EQ(table->Match("www.example.co.uk")->line, 4);
  EXPECT_EQ(table->Match("x.blogspot.com")->line, 5);
}

TEST(DomainsTableTest, CidrWithHostBitsIsRefusedWithFileAndLine) {
  EXPECT_EQ(ParseError("example.com 127.0.0.1:25 etrn=10.0.0.1/8\n"),
            "domains.conf:1: bad CIDR '10.0.0.1/8' in etrn=: host bits set (did you mean "
            "10.0.0.0/8?)");
  EXPECT_EQ(
      ParseError("# c\nexample.com 127.0.0.1:25 etrn=192.0.2.0/24,192.0.2.128/25,192.0.2.129/25\n"),
      "domains.conf:2: bad CIDR '192.0.2.129/25' in etrn=: host bits set (did you mean "
      "192.0.2.128/25?)");
  EXPECT_EQ(ParseError("example.com 127.0.0.1:25 etrn=11.0.0.0/7\n"),
            "domains.conf:1: bad CIDR '11.0.0.0/7' in etrn=: host bits set (did you mean "
            "10.0.0.0/7?)");
  EXPECT_EQ(ParseError("example.com 127.0.0.1:25 etrn=2001:db8::1/32\n"),
            "domains.conf:1: bad CIDR '2001:db8::1/32' in etrn=: host bits set (did you mean "
            "2001:db8::/32?)");
  EXPECT_EQ(ParseError("example.com 127.0.0.1:25 etrn=2001:db8:8000::/33,2001:db8:c000::/33\n"),
            "domains.conf:1: bad CIDR '2001:db8:c000::/33' in etrn=: host bits set (did you mean "
            "2001:db8:8000::/33?)");
}

TEST(DomainsTableTest, CidrNetworkAddressesAreAccepted) {
  auto table = MustParse(
      "example.com 127.0.0.1:25 "
      "etrn=10.0.0.0/8,192.0.2.128/25,192.0.2.7,192.0.2.7/32,0.0.0.0/0,2001:db8::/32,"
      "2001:db8:8000::/33,::1,::/0\n");
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->entries()[0].etrn_networks.size(), 9u);
}

TEST(DomainsTableTest, BadNextHops) {
  EXPECT_EQ(ParseError("example.com 127.0.0.1:99999\n"),
            "domains.conf:1: bad next hop '127.0.0.1:99999': bad port");
  EXPECT_EQ(ParseError("example.com 127.0.0.1:0\n"),
            "domains.conf:1: bad next hop '127.0.0.1:0': bad port");
  EXPECT_EQ(ParseError("example.com 127.0.0.1:x\n"),
            "domains.conf:1: bad next hop '127.0.0.1:x': bad port");
  EXPECT_EQ(ParseError("example.com relay.example.net\n"),
            "domains.conf:1: bad next hop 'relay.example.net': a host name needs a port "
            "(host:port)");
  EXPECT_EQ(ParseError("example.com 2001:db8::1\n"),
            "domains.conf:1: bad next hop '2001:db8::1': IPv6 addresses must be in brackets "
            "([addr]:port)");
  EXPECT_EQ(ParseError("example.com [2001:db8::1\n"),
            "domains.conf:1: bad next hop '[2001:db8::1': bad bracketed IPv6 address");
  EXPECT_EQ(ParseError("example.com [nothost]:25\n"),
            "domains.conf:1: bad next hop '[nothost]:25': bad bracketed IPv6 address");
  EXPECT_EQ(ParseError("example.com 1.2.3:25\n"),
            "domains.conf:1: bad next hop '1.2.3:25': numeric top-level label");
  EXPECT_EQ(ParseError("example.com bad_host:25\n"),
            "domains.conf:1: bad next hop 'bad_host:25': invalid character");
}

TEST(DomainsTableTest, LoadFileReadsAndNamesTheFile) {
  std::string path = ::testing::TempDir() + "/domains_table_test.conf";
  {
    std::ofstream out(path);
    out << "example.com 127.0.0.1:2626 hold\nbad.example entry\n";
  }
  auto table = DomainsTable::LoadFile(path);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(std::string(table.status().message()),
            path +
                ":2: bad next hop 'entry': a host name needs a port "
                "(host:port)");
  {
    std::ofstream out(path);
    out << "example.com 127.0.0.1:2626 hold\n";
  }
  table = DomainsTable::LoadFile(path);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_NE((*table)->Match("example.com"), nullptr);
  std::remove(path.c_str());
}

TEST(DomainsTableTest, UnreadableFileIsAnErrorNamingIt) {
  auto table = DomainsTable::LoadFile("/nonexistent/etrnd/domains.conf");
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(std::string(table.status().message()),
              HasSubstr("/nonexistent/etrnd/domains.conf: cannot open"));
}

TEST(DomainsTableTest, ShippedExampleTableParses) {
  auto table = DomainsTable::LoadFile(ETRND_SOURCE_ROOT "/docs/examples/domains.conf");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_GT((*table)->size(), 3u);
  EXPECT_NE((*table)->Match("example.com"), nullptr);
  EXPECT_TRUE((*table)->Match("example.com")->hold);
  EXPECT_NE((*table)->Match("host.example.net"), nullptr);
  EXPECT_FALSE((*table)->QueueMembers("dialup").empty());
}

TEST(DomainsTableTest, ManyEntriesLookUpByHash) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "d" + std::to_string(i) + ".test 127.0.0.1:2626\n";
  auto table = MustParse(text);
  ASSERT_EQ(table->size(), 20000u);
  EXPECT_EQ(table->Match("d12345.test")->line, 12346);
  EXPECT_EQ(table->Match("d20000.test"), nullptr);
}

}  // namespace
}  // namespace etrnd::config

namespace etrnd::config {
namespace {

// auth= (SPEC 4): SMTP AUTH users who may ETRN from any address.
TEST(DomainsTableAuthTest, AuthUsersAndEtrnNetworksEitherSuffices) {
  auto table = DomainsTable::Parse(
      "both.example 127.0.0.1:25 etrn=192.0.2.0/24 auth=alice,Bob@corp\n"
      "users.example 127.0.0.1:25 auth=alice\n"
      "open.example 127.0.0.1:25\n",
      "domains.conf");
  ASSERT_TRUE(table.ok()) << table.status();
  const IpAddress inside = *IpAddress::Parse("192.0.2.7");
  const IpAddress outside = *IpAddress::Parse("198.51.100.1");
  const DomainEntry* both = (*table)->Match("both.example");
  ASSERT_NE(both, nullptr);
  EXPECT_EQ(both->auth_users, (std::vector<std::string>{"alice", "Bob@corp"}));
  EXPECT_TRUE(both->AllowsEtrn(inside, ""));
  EXPECT_TRUE(both->AllowsEtrn(outside, "alice"));
  EXPECT_TRUE(both->AllowsEtrn(outside, "Bob@corp"));
  EXPECT_FALSE(both->AllowsEtrn(outside, "bob@corp"));  // user names are case-sensitive
  EXPECT_FALSE(both->AllowsEtrn(outside, ""));
  EXPECT_FALSE(both->AllowsEtrnFrom(outside));
  // auth= alone: only those users, from anywhere.
  const DomainEntry* users = (*table)->Match("users.example");
  EXPECT_TRUE(users->AllowsEtrn(outside, "alice"));
  EXPECT_FALSE(users->AllowsEtrn(inside, ""));
  EXPECT_FALSE(users->AllowsEtrn(inside, "mallory"));
  EXPECT_TRUE((*table)->Match("open.example")->AllowsEtrn(outside, ""));
}

TEST(DomainsTableAuthTest, MalformedAuthOption) {
  for (std::string_view line :
       {"a.example 127.0.0.1:25 auth=\n", "a.example 127.0.0.1:25 auth=a,,b\n",
        "a.example 127.0.0.1:25 auth=a:b\n", "a.example 127.0.0.1:25 auth=a auth=b\n"}) {
    auto table = DomainsTable::Parse(line, "domains.conf");
    ASSERT_FALSE(table.ok()) << line;
    const std::string message(table.status().message());
    EXPECT_TRUE(message.starts_with("domains.conf:1: ")) << message;
    EXPECT_NE(message.find("auth="), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace etrnd::config

namespace etrnd::config {
namespace {

std::vector<std::string> Patterns(const std::vector<const DomainEntry*>& entries) {
  std::vector<std::string> patterns;
  for (const DomainEntry* entry : entries) patterns.push_back(entry->pattern());
  return patterns;
}

// ETRN @domain's counts add up what each entry within the domain matches,
// starting from the nearest ".parent" entry above it.
TEST(DomainsTableTest, EntriesWithinADomainAndTheNearestParentEntryAbove) {
  auto table = MustParse(
      "example.com 10.0.0.1\n"
      ".example.com 10.0.0.1\n"
      "a.example.com 10.0.0.1\n"
      ".b.example.com 10.0.0.1\n"
      "x-example.com 10.0.0.1\n"
      "other.org 10.0.0.1\n");
  EXPECT_EQ(
      Patterns(table->EntriesWithin("Example.COM.")),
      (std::vector<std::string>{"example.com", ".example.com", "a.example.com", ".b.example.com"}));
  EXPECT_EQ(Patterns(table->EntriesWithin("b.example.com")),
            (std::vector<std::string>{".b.example.com"}));
  EXPECT_TRUE(table->EntriesWithin("c.example.com").empty());
  EXPECT_EQ(Patterns(table->EntriesWithin("com")).size(), 5u);
  EXPECT_EQ(table->NearestSubdomainsEntryAbove("x.b.example.com")->pattern(), ".b.example.com");
  EXPECT_EQ(table->NearestSubdomainsEntryAbove("b.example.com")->pattern(), ".example.com");
  EXPECT_EQ(table->NearestSubdomainsEntryAbove("example.com"), nullptr);
  EXPECT_EQ(table->NearestSubdomainsEntryAbove("a.other.org"), nullptr);
}

}  // namespace
}  // namespace etrnd::config
