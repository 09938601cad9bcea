#include "etrnd/smtp/address.h"

#include <string>
#include <vector>

#include "etrnd/smtp/command.h"
#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

TEST(AddressTest, ValidMailboxes) {
  for (const char* mailbox :
       {"a@example.com", "first.last@sub.example.co", "x+tag@a-b.example",
        "\"quoted user\"@example.com", "\"a\\\"b\"@example.com", "o'hara@example.com",
        "root@[192.0.2.1]", "root@[IPv6:2001:db8::1]", "user@localhost"}) {
    EXPECT_TRUE(IsValidMailbox(mailbox)) << mailbox;
  }
}

TEST(AddressTest, InvalidMailboxes) {
  const std::string long_local(65, 'a');
  const std::string long_label(64, 'a');
  for (std::string mailbox :
       {std::string("no-at"), std::string("@example.com"), std::string("a@"),
        std::string(".a@example.com"), std::string("a.@example.com"),
        std::string("a..b@example.com"), std::string("a b@example.com"),
        std::string("a@exa_mple.com"), std::string("a@-example.com"), std::string("a@example-.com"),
        std::string("a@example..com"), std::string("a@.example.com"), std::string("a@[300.1.1.1]"),
        std::string("a@[IPv6:zz]"), std::string("a@[::1]"), long_local + "@example.com",
        "a@" + long_label + ".com", std::string("\"open@example.com")}) {
    EXPECT_FALSE(IsValidMailbox(mailbox)) << mailbox;
  }
}

TEST(AddressTest, DomainLengthBound) {
  std::string domain;
  while (domain.size() < 250) domain += "abcdefghi.";
  domain += "com";  // 253 octets
  EXPECT_TRUE(IsValidDomain(domain));
  EXPECT_FALSE(IsValidDomain("x" + domain + "xxx"));  // 257 octets
}

TEST(AddressTest, MailboxDomainIsAfterTheLastAt) {
  EXPECT_EQ(MailboxDomain("\"a@b\"@example.com"), "example.com");
  EXPECT_EQ(MailboxDomain("postmaster"), "");
}

TEST(AddressTest, ParsePathArgument) {
  PathArgument path;
  ASSERT_TRUE(ParsePathArgument("<a@example.com>  SIZE=1 BODY=7BIT ", &path));
  EXPECT_EQ(path.mailbox, "a@example.com");
  EXPECT_EQ(path.parameters, "SIZE=1 BODY=7BIT");
  ASSERT_TRUE(ParsePathArgument("<>", &path));
  EXPECT_EQ(path.mailbox, "");
  ASSERT_TRUE(ParsePathArgument("<\"x>y\"@example.com>", &path));
  EXPECT_EQ(path.mailbox, "\"x>y\"@example.com");
  ASSERT_TRUE(ParsePathArgument("<@a.example,@b.example:u@example.com>", &path));
  EXPECT_EQ(path.mailbox, "u@example.com");
  EXPECT_FALSE(ParsePathArgument("a@example.com", &path));
  EXPECT_FALSE(ParsePathArgument("<a@example.com", &path));
  EXPECT_FALSE(ParsePathArgument("<a@example.com>SIZE=1", &path));
  EXPECT_FALSE(ParsePathArgument("<@bad_route:u@example.com>", &path));
  EXPECT_FALSE(ParsePathArgument("<" + std::string(300, 'a') + "@example.com>", &path));
}

// RFC 5321 section 4.1.2: Path = "<" [ A-d-l ":" ] Mailbox ">"; the route is
// accepted and ignored (appendix C), but it never stands for the null path.
TEST(AddressTest, SourceRouteNeedsAMailboxAndWellFormedDomains) {
  PathArgument path;
  ASSERT_TRUE(ParsePathArgument("<@a.b:user@c.d>", &path));
  EXPECT_EQ(path.mailbox, "user@c.d");
  ASSERT_TRUE(ParsePathArgument("<@a.b,@c.d:\"x:y\"@e.f> SIZE=1", &path));
  EXPECT_EQ(path.mailbox, "\"x:y\"@e.f");
  EXPECT_EQ(path.parameters, "SIZE=1");
  for (const char* bad :
       {"<@a.b:>", "<@a.b,@c.d:>", "<@a.b:> SIZE=1", "<@a.b>", "<@:u@c.d>", "<@a.b,:u@c.d>",
        "<@a.b,@:u@c.d>", "<@a.b,c.d:u@e.f>", "<@a..b:u@c.d>", "<@[192.0.2.1]:u@c.d>"}) {
    path = PathArgument{};
    EXPECT_FALSE(ParsePathArgument(bad, &path)) << bad << " -> mailbox " << path.mailbox;
  }
}

TEST(AddressTest, OtherPathEdgeCases) {
  PathArgument path;
  ASSERT_TRUE(ParsePathArgument("<> SIZE=1", &path));
  EXPECT_EQ(path.mailbox, "");
  for (const char* bad : {"", "<", ">", "<>>", "<<a@b.c>>", "<a@b.c>>", "<a@b.c>x", "<\"a>"}) {
    EXPECT_FALSE(ParsePathArgument(bad, &path)) << bad;
  }
  // Framing only: what is between the brackets is checked by IsValidMailbox.
  for (const char* odd : {"< a@b.c>", "<,@a.b:u@c.d>", "<@a.b::u@c.d>"}) {
    ASSERT_TRUE(ParsePathArgument(odd, &path)) << odd;
    EXPECT_FALSE(IsValidMailbox(path.mailbox)) << odd;
  }
  // The 256-octet path bound counts the brackets.
  const std::string local(64, 'l');
  std::string domain;
  while (domain.size() + local.size() + 3 < kMaxPathBytes) domain += "d.";
  domain.resize(kMaxPathBytes - local.size() - 3 - 3);
  domain += "com";
  const std::string longest = "<" + local + "@" + domain + ">";
  ASSERT_EQ(longest.size(), kMaxPathBytes);
  EXPECT_TRUE(ParsePathArgument(longest, &path));
  EXPECT_FALSE(ParsePathArgument("<" + local + "@x" + domain + ">", &path));
}

TEST(AddressTest, ParseParameters) {
  std::vector<Parameter> parameters;
  ASSERT_TRUE(ParseParameters("SIZE=10  BODY=8BITMIME SMTPUTF8", &parameters));
  ASSERT_EQ(parameters.size(), 3u);
  EXPECT_EQ(parameters[0], Parameter("SIZE", "10"));
  EXPECT_EQ(parameters[2], Parameter("SMTPUTF8", ""));
  EXPECT_FALSE(ParseParameters("=x", &parameters));
  EXPECT_FALSE(ParseParameters("SIZE=", &parameters));
  EXPECT_FALSE(ParseParameters("-X=1", &parameters));
  std::string many;
  for (int i = 0; i <= static_cast<int>(kMaxParameters); ++i) many += "X ";
  EXPECT_FALSE(ParseParameters(many, &parameters));
}

TEST(CommandTest, VerbsAreCaseInsensitiveAndNeedASeparator) {
  EXPECT_EQ(ParseCommand("mail FROM:<a@b.c>").verb, Verb::kMail);
  EXPECT_EQ(ParseCommand("MAIL FROM:<a@b.c>").argument, "FROM:<a@b.c>");
  EXPECT_EQ(ParseCommand("eTrN  @example.com  ").argument, "@example.com");
  EXPECT_EQ(ParseCommand("QUIT").verb, Verb::kQuit);
  EXPECT_EQ(ParseCommand("QUITE").verb, Verb::kUnknown);
  EXPECT_EQ(ParseCommand("").verb, Verb::kUnknown);
}

TEST(CommandTest, PrintableLines) {
  EXPECT_TRUE(IsPrintableCommandLine("MAIL FROM:<a@b.c>\tSIZE=1"));
  EXPECT_FALSE(IsPrintableCommandLine(std::string("A\0B", 3)));
  EXPECT_FALSE(IsPrintableCommandLine("A\rB"));
  EXPECT_FALSE(IsPrintableCommandLine("caf\xc3\xa9"));
  EXPECT_FALSE(IsPrintableCommandLine("\x7f"));
}

}  // namespace
}  // namespace etrnd::smtp
