// The tls= option of the domains table (SPEC 4).
#include "etrnd/config/domain_entry_parser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace etrnd::config {
namespace {

TlsPolicy PolicyOf(std::string_view line) {
  auto entry = ParseDomainEntryLine(line);
  EXPECT_TRUE(entry.ok()) << entry.status();
  return entry.ok() && entry->has_value() ? (*entry)->tls : TlsPolicy::kOpportunistic;
}

TEST(DomainTlsOptionTest, DefaultIsOpportunistic) {
  EXPECT_EQ(PolicyOf("example.com 192.0.2.1"), TlsPolicy::kOpportunistic);
}

TEST(DomainTlsOptionTest, RequireAndVerifyAnyCase) {
  EXPECT_EQ(PolicyOf("example.com 192.0.2.1 tls=require"), TlsPolicy::kRequire);
  EXPECT_EQ(PolicyOf("example.com mx hold TLS=Verify"), TlsPolicy::kVerify);
}

TEST(DomainTlsOptionTest, BadValuesAreErrors) {
  for (std::string_view line : {"example.com 192.0.2.1 tls=", "example.com 192.0.2.1 tls=yes",
                                "example.com 192.0.2.1 tls=never"}) {
    auto entry = ParseDomainEntryLine(line);
    ASSERT_FALSE(entry.ok()) << line;
    EXPECT_THAT(std::string(entry.status().message()), ::testing::HasSubstr("bad tls="));
  }
}

}  // namespace
}  // namespace etrnd::config
