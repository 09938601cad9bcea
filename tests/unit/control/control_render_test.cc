#include "etrnd/control/control_render.h"

#include <gtest/gtest.h>

namespace etrnd::control {
namespace {

TEST(ControlRenderTest, JsonStringEscapes) {
  EXPECT_EQ(JsonString("a\"b\\c\n\x01\xc3"), "\"a\\\"b\\\\c\\n\\u0001\\u00c3\"");
}

TEST(ControlRenderTest, QueueJsonIsExact) {
  DomainSummary b;
  b.domain = "b.test";
  b.messages = 2;
  b.recipients = 3;
  b.bytes = 400;
  b.oldest_age_s = 700;
  b.state = "etrn";
  b.ages[0] = 1;
  b.ages[2] = 1;
  DomainSummary a;
  a.domain = "a.test";
  a.messages = 1;
  a.recipients = 1;
  a.bytes = 100;
  a.oldest_age_s = 5;
  a.state = "retry";
  a.next_attempt_s = 60;
  a.ages[0] = 1;
  EXPECT_EQ(RenderQueue({b, a}, true),
            "{\"domains\":{"
            "\"a.test\":{\"messages\":1,\"recipients\":1,\"bytes\":100,\"oldest_age_s\":5,"
            "\"state\":\"retry\",\"next_attempt_s\":60,\"ages\":[1,0,0,0,0,0,0,0,0,0]},"
            "\"b.test\":{\"messages\":2,\"recipients\":3,\"bytes\":400,\"oldest_age_s\":700,"
            "\"state\":\"etrn\",\"next_attempt_s\":null,\"ages\":[1,0,1,0,0,0,0,0,0,0]}},"
            "\"buckets\":[\"5m\",\"10m\",\"20m\",\"40m\",\"80m\",\"160m\",\"320m\",\"640m\","
            "\"1280m\",\"1280m+\"],"
            "\"total\":{\"domains\":2,\"messages\":3,\"recipients\":4,\"bytes\":500,"
            "\"oldest_age_s\":700,\"ages\":[2,0,1,0,0,0,0,0,0,0]}}\n");
}

TEST(ControlRenderTest, QueueTextHasHeaderTotalAndRows) {
  DomainSummary a;
  a.domain = "a.test";
  a.messages = 1;
  a.state = "held";
  std::string text = RenderQueue({a}, false);
  EXPECT_EQ(text.rfind("DOMAIN", 0), 0u);
  EXPECT_NE(text.find("TOTAL"), std::string::npos);
  EXPECT_NE(text.find("a.test"), std::string::npos);
  EXPECT_NE(text.find("held"), std::string::npos);
  EXPECT_NE(text.find("1280m+"), std::string::npos);
}

TEST(ControlRenderTest, ListJsonIsExact) {
  MessageSummary m{"00000000000000AB", "s@x.test", 120, 30, 2, 1, "421 busy"};
  EXPECT_EQ(RenderList("a.test", {m}, true),
            "{\"domain\":\"a.test\",\"messages\":[{\"id\":\"00000000000000AB\","
            "\"sender\":\"s@x.test\",\"bytes\":120,\"age_s\":30,\"recipients\":2,"
            "\"attempts\":1,\"last_error\":\"421 busy\"}]}\n");
  EXPECT_NE(RenderList("a.test", {m}, false).find("1 messages for a.test"), std::string::npos);
}

TEST(ControlRenderTest, ShowJsonIsExact) {
  MessageDetail m;
  m.id = "00000000000000AB";
  m.sender = "";
  m.arrival_unix_s = 1700000000;
  m.age_s = 9;
  m.bytes = 300;
  m.recipients = {{"a@a.test", true}, {"b@b.test", false}};
  m.headers = "Subject: x\r\n";
  EXPECT_EQ(RenderShow(m, true),
            "{\"id\":\"00000000000000AB\",\"sender\":\"\",\"arrival_unix\":1700000000,"
            "\"age_s\":9,\"bytes\":300,\"recipients\":[{\"address\":\"a@a.test\",\"state\":"
            "\"queued\"},{\"address\":\"b@b.test\",\"state\":\"done\"}],"
            "\"headers\":\"Subject: x\\r\\n\"}\n");
}

TEST(ControlRenderTest, ActionsAndErrors) {
  EXPECT_EQ(
      RenderAction({{"domain", std::string("a.test")}, {"held", true}, {"messages", int64_t{3}}},
                   "hold a.test: done", true),
      "{\"domain\":\"a.test\",\"held\":true,\"messages\":3}\n");
  EXPECT_EQ(RenderAction({}, "hold a.test: done", false), "hold a.test: done\n");
  EXPECT_EQ(RenderError("no such id", true), "{\"error\":\"no such id\"}\n");
  EXPECT_EQ(RenderError("no such id", false), "");
}

TEST(ControlRenderTest, StatsTotals) {
  CoreStats a{0, 1, 2, 3, 4, 0, 1, 10, 5, 0};
  CoreStats b{1, 1, 2, 3, 4, 1, 1, 10, 5, 1};
  const std::string json = RenderStats({a, b}, true);
  EXPECT_EQ(json.rfind("{\"total\":{\"sessions\":2,\"queued_messages\":4,", 0), 0u);
  EXPECT_NE(json.find("\"held_domains\":1,"), std::string::npos);
}

TEST(ControlRenderTest, ShortDuration) {
  EXPECT_EQ(ShortDuration(42), "42s");
  EXPECT_EQ(ShortDuration(17 * 60), "17m");
  EXPECT_EQ(ShortDuration(3 * 3600 + 120), "3h2m");
  EXPECT_EQ(ShortDuration(2 * 86400 + 3600), "2d1h");
}

}  // namespace
}  // namespace etrnd::control
