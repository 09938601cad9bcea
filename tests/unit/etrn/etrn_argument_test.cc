#include "etrnd/etrn/etrn_argument.h"

#include <string>

#include "gtest/gtest.h"

namespace etrnd::etrn {
namespace {

std::string Error(std::string_view argument) {
  auto parsed = ParseEtrnArgument(argument);
  EXPECT_FALSE(parsed.ok()) << argument;
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

TEST(EtrnArgumentTest, NodeForm) {
  auto parsed = ParseEtrnArgument("Mail.Example.COM");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->form, EtrnForm::kNode);
  EXPECT_EQ(parsed->name, "mail.example.com");
  EXPECT_EQ(parsed->as_sent, "Mail.Example.COM");
}

TEST(EtrnArgumentTest, TrailingDotAndSurroundingBlanks) {
  auto parsed = ParseEtrnArgument("  example.com.\t");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->name, "example.com");
  EXPECT_EQ(parsed->as_sent, "example.com.");
}

TEST(EtrnArgumentTest, SubtreeForm) {
  auto parsed = ParseEtrnArgument("@Example.com");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->form, EtrnForm::kSubtree);
  EXPECT_EQ(parsed->name, "example.com");
  EXPECT_EQ(parsed->as_sent, "@Example.com");
}

TEST(EtrnArgumentTest, SubtreeOfSingleLabelIsSyntacticallyValid) {
  // "@com" must reach the breadth rule (459), not be a syntax error.
  auto parsed = ParseEtrnArgument("@com");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->name, "com");
}

TEST(EtrnArgumentTest, QueueForm) {
  auto parsed = ParseEtrnArgument("#DialUp_1.x-y");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->form, EtrnForm::kQueue);
  EXPECT_EQ(parsed->name, "dialup_1.x-y");
  EXPECT_EQ(parsed->as_sent, "#DialUp_1.x-y");
}

TEST(EtrnArgumentTest, MissingArgumentIsExactSyntaxReply) {
  EXPECT_EQ(Error(""), "501 5.5.4 Syntax: ETRN [@|#]node");
  EXPECT_EQ(Error("   "), "501 5.5.4 Syntax: ETRN [@|#]node");
}

TEST(EtrnArgumentTest, MalformedArgumentsAre501) {
  const char* bad[] = {
      "localhost",            // no dot
      "example..com",         // empty label
      ".example.com",         // empty label
      "exa_mple.com",         // bad character
      "exa$mple.com",         // bad character
      "-example.com",         // label starts with '-'
      "example.com..",        // empty label
      "1.2.3.4",              // not a domain
      "[1.2.3.4]",            // address literals are not nodes
      "@",                    // empty domain
      "@.",                   // empty domain
      "@a..b",                // empty label
      "#",                    // empty queue
      "#a/b",                 // bad queue character
      "a.example b.example",  // two arguments
      "@#x.example",
  };
  for (const char* argument : bad) {
    std::string reply = Error(argument);
    EXPECT_EQ(reply.rfind("501 5.5.4 ", 0), 0u) << argument << " -> " << reply;
    EXPECT_EQ(reply.find('\n'), std::string::npos);
  }
}

TEST(EtrnArgumentTest, LengthLimit) {
  // 255 octets is the limit; labels of 63.
  std::string label(63, 'a');
  std::string name = label + "." + label + "." + label + "." + std::string(61, 'b') + ".c";
  ASSERT_EQ(name.size(), 255u);
  EXPECT_TRUE(ParseEtrnArgument(name).ok());
  EXPECT_FALSE(ParseEtrnArgument("x" + name).ok());
  EXPECT_FALSE(ParseEtrnArgument(std::string(64, 'a') + ".com").ok());
  EXPECT_FALSE(ParseEtrnArgument("#" + std::string(65, 'q')).ok());
}

}  // namespace
}  // namespace etrnd::etrn
