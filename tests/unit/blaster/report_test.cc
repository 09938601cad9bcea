#include "etrnd/blaster/report.h"

#include <string>

#include "etrnd/blaster/stats.h"
#include "gtest/gtest.h"

namespace etrnd::blaster {
namespace {

TEST(ReportTest, JsonStringEscapes) {
  EXPECT_EQ(JsonString("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

TEST(ReportTest, ClientJsonHasTheContractFields) {
  ClientStats stats;
  TransactionResult ok;
  ok.ok = true;
  ok.rejected_recipient_codes = {550};
  stats.Count(ok, 1000, 100);
  TransactionResult failed;
  failed.error = "451";
  stats.Count(failed, 1000, 0);
  stats.CountError("connect");
  const std::string json = ClientSummaryJson(stats, 2.0);
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
  for (const char* field :
       {"\"messages_ok\":1,", "\"messages_failed\":1,", "\"seconds\":2.000,",
        "\"messages_per_second\":0.5,", "\"bytes_per_second\":500.0,",
        "\"latency_us\":{\"p50\":100,", "\"p90\":100,", "\"p99\":100,", "\"p999\":100,",
        "\"max\":100,", "\"errors\":{\"451\":1,\"550\":1,\"connect\":1}"}) {
    EXPECT_NE(json.find(field), std::string::npos) << field << " in " << json;
  }
  EXPECT_EQ(json.find("etrn_latency_us"), std::string::npos) << "only when ETRN was sent";
}

TEST(ReportTest, EtrnFieldsAppearWhenEtrnWasSent) {
  ClientStats stats;
  TransactionResult etrn;
  etrn.kind = TransactionResult::Kind::kEtrn;
  etrn.ok = true;
  etrn.final_code = 253;
  stats.Count(etrn, 0, 250);
  TransactionResult refused;
  refused.kind = TransactionResult::Kind::kEtrn;
  refused.final_code = 459;
  refused.error = "459";
  stats.Count(refused, 0, 250);
  TransactionResult lost;  // no answer: no latency
  lost.kind = TransactionResult::Kind::kEtrn;
  lost.error = "connection";
  stats.Count(lost, 0, 999999);
  const std::string json = ClientSummaryJson(stats, 1.0);
  EXPECT_NE(json.find("\"etrn_latency_us\":{\"p50\":250,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"etrn_ok\":1,\"etrn_failed\":2"), std::string::npos) << json;
  EXPECT_NE(json.find("\"max\":250,\"min\":250,\"mean\":250.0,\"count\":2}"), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"etrn_errors\":{\"459\":1,\"connection\":1}"), std::string::npos) << json;
}

TEST(ReportTest, MergeAddsEverything) {
  ClientStats a, b;
  TransactionResult ok;
  ok.ok = true;
  a.Count(ok, 10, 5);
  b.Count(ok, 20, 7);
  b.CountError("connect");
  a.Merge(b);
  EXPECT_EQ(a.messages_ok, 2u);
  EXPECT_EQ(a.bytes_ok, 30u);
  EXPECT_EQ(a.latency_us.count(), 2u);
  EXPECT_EQ(a.latency_us.max(), 7u);
  EXPECT_EQ(a.errors.at("connect"), 1u);
}

TEST(ReportTest, SinkJsonPerDomainSorted) {
  SinkStats stats;
  ReceivedMessage m;
  m.bytes = 10;
  m.recipients = {"a@B.test", "b@b.test", "c@a.test"};
  stats.Count(m);
  SinkStats other;
  other.Count(m);
  stats.Merge(other);
  EXPECT_EQ(SinkSummaryJson(stats, 1.5),
            "{\"messages\":2,\"bytes\":20,\"connections\":0,\"seconds\":1.500,\"per_domain\":{"
            "\"a.test\":{\"messages\":2,\"bytes\":20},\"b.test\":{\"messages\":2,\"bytes\":20}}}");
}

TEST(ReportTest, RecipientDomain) {
  EXPECT_EQ(RecipientDomain("User@Example.COM"), "example.com");
  EXPECT_EQ(RecipientDomain("a@b@c.test"), "c.test");
  EXPECT_EQ(RecipientDomain("postmaster"), "");
}

}  // namespace
}  // namespace etrnd::blaster
