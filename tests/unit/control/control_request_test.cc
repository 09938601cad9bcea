#include "etrnd/control/control_request.h"

#include <gtest/gtest.h>

namespace etrnd::control {
namespace {

TEST(ControlRequestTest, ParsesEveryCommand) {
  auto queue = ParseRequest("json queue");
  ASSERT_TRUE(queue.ok());
  EXPECT_EQ(queue->command, Command::kQueue);
  EXPECT_TRUE(queue->json);

  auto list = ParseRequest("text list Example.COM.");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->command, Command::kList);
  EXPECT_FALSE(list->json);
  EXPECT_EQ(list->argument, "example.com");

  auto show = ParseRequest("text show 0123456789abcdef");
  ASSERT_TRUE(show.ok());
  EXPECT_EQ(show->queue_id, 0x0123456789ABCDEFull);
  EXPECT_EQ(show->argument, "0123456789ABCDEF");

  auto by_domain = ParseRequest("text delete --domain a.test");
  ASSERT_TRUE(by_domain.ok());
  EXPECT_TRUE(by_domain->by_domain);
  EXPECT_EQ(by_domain->argument, "a.test");

  auto flush = ParseRequest("text flush @Example.com");
  ASSERT_TRUE(flush.ok());
  EXPECT_EQ(flush->argument, "@Example.com");

  for (const char* line : {"text hold a.test", "text release a.test", "text reload", "text stats",
                           "text bounce 0000000000000001", "text delete 0000000000000001\r"}) {
    EXPECT_TRUE(ParseRequest(line).ok()) << line;
  }
}

TEST(ControlRequestTest, RefusesBadRequests) {
  for (const char* line :
       {"", "json", "xml queue", "text frobnicate", "text list", "text list nodot", "text show 123",
        "text show 0123456789abcdeg", "text delete --domain", "text queue extra",
        "text hold a.test b.test c.test", "text delete --domain bad_domain"}) {
    EXPECT_FALSE(ParseRequest(line).ok()) << line;
  }
  EXPECT_FALSE(ParseRequest("text list " + std::string(kRequestBytesMax, 'a')).ok());
}

TEST(ControlRequestTest, FormatsWhatTheServerParses) {
  auto line = FormatRequest(true, {"delete", "--domain", "a.test"});
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(*line, "json delete --domain a.test\n");
  auto parsed = ParseRequest(line->substr(0, line->size() - 1));
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->by_domain);
  EXPECT_FALSE(FormatRequest(false, {"list", "a b"}).ok());
  EXPECT_FALSE(FormatRequest(false, {"list", ""}).ok());
}

TEST(ControlRequestTest, QueueIdRoundTrip) {
  EXPECT_EQ(FormatQueueId(*ParseQueueId("18C0FFEE0000A001")), "18C0FFEE0000A001");
  EXPECT_FALSE(ParseQueueId("18C0FFEE0000A0011").has_value());
  EXPECT_FALSE(ParseQueueId("").has_value());
}

}  // namespace
}  // namespace etrnd::control
