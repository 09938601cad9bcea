#include "etrnd/server/odmr_turn_ledger.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace etrnd::server {
namespace {

using ::testing::ElementsAre;

smtp::OutboundMessage Message(uint64_t job_token, size_t recipients) {
  smtp::OutboundMessage message;
  message.token = job_token;
  message.mail_from = "s@x.test";
  for (size_t i = 0; i < recipients; ++i) {
    message.recipients.push_back("r" + std::to_string(i) + "@hold.test");
  }
  message.data = "Subject: t\r\n\r\nbody\r\n";
  return message;
}

smtp::RecipientOutcome Answer(uint64_t turn_token, size_t index,
                              smtp::RecipientOutcome::Kind kind) {
  smtp::RecipientOutcome outcome;
  outcome.token = turn_token;
  outcome.recipient_index = index;
  outcome.kind = kind;
  outcome.reply = kind == smtp::RecipientOutcome::kDelivered ? "250 ok" : "450 later";
  return outcome;
}

std::vector<uint64_t> TokensOf(const std::vector<smtp::RecipientOutcome>& outcomes) {
  std::vector<uint64_t> tokens;
  for (const auto& outcome : outcomes) tokens.push_back(outcome.token);
  return tokens;
}

TEST(TurnLedgerTest, TokensAreUniqueAcrossJobsAndMapBack) {
  TurnLedger ledger;
  // Two owner cores' jobs use the same item tokens: the turn must not mix them.
  std::vector<smtp::OutboundMessage> a = {Message(0, 1), Message(1, 1)};
  std::vector<smtp::OutboundMessage> b = {Message(0, 1)};
  ledger.AddBatch({.core = 0, .job_id = 7}, a);
  ledger.AddBatch({.core = 1, .job_id = 7}, b);
  EXPECT_NE(a[0].token, a[1].token);
  EXPECT_NE(a[0].token, b[0].token);
  EXPECT_NE(a[1].token, b[0].token);
  EXPECT_FALSE(ledger.all_answered());

  TurnLedger::Routed routed =
      ledger.Route({Answer(b[0].token, 0, smtp::RecipientOutcome::kDelivered),
                    Answer(a[1].token, 0, smtp::RecipientOutcome::kDeferred)});
  ASSERT_EQ(routed.answers.size(), 2u);
  EXPECT_THAT(TokensOf(routed.answers[{.core = 1, .job_id = 7}]), ElementsAre(0u));
  EXPECT_THAT(TokensOf(routed.answers[{.core = 0, .job_id = 7}]), ElementsAre(1u));
  // Job (1,7)'s batch is over; job (0,7)'s still has message 0 open.
  ASSERT_EQ(routed.done.size(), 1u);
  EXPECT_EQ(routed.done[0].job, (TurnLedger::JobKey{.core = 1, .job_id = 7}));
  EXPECT_THAT(routed.done[0].job_tokens, ElementsAre(0u));
  EXPECT_EQ(ledger.open_batches(), 1u);

  routed = ledger.Route({Answer(a[0].token, 0, smtp::RecipientOutcome::kBounced)});
  ASSERT_EQ(routed.done.size(), 1u);
  EXPECT_THAT(routed.done[0].job_tokens, ElementsAre(0u, 1u));
  EXPECT_TRUE(ledger.all_answered());
  EXPECT_EQ(ledger.open_batches(), 0u);
}

TEST(TurnLedgerTest, AMessageIsOverOnlyWhenEveryRecipientIsAnswered) {
  TurnLedger ledger;
  std::vector<smtp::OutboundMessage> batch = {Message(4, 3)};
  ledger.AddBatch({.core = 2, .job_id = 1}, batch);
  const uint64_t token = batch[0].token;
  TurnLedger::Routed routed = ledger.Route({Answer(token, 0, smtp::RecipientOutcome::kDelivered),
                                            Answer(token, 2, smtp::RecipientOutcome::kBounced)});
  EXPECT_TRUE(routed.done.empty());
  EXPECT_FALSE(ledger.all_answered());
  auto& answers = routed.answers[{.core = 2, .job_id = 1}];
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].token, 4u);
  EXPECT_EQ(answers[1].recipient_index, 2u);
  routed = ledger.Route({Answer(token, 1, smtp::RecipientOutcome::kDeferred)});
  ASSERT_EQ(routed.done.size(), 1u);
  EXPECT_THAT(routed.done[0].job_tokens, ElementsAre(4u));
  EXPECT_TRUE(ledger.all_answered());
}

TEST(TurnLedgerTest, AnswersKeepTheirOrderWithinAJob) {
  TurnLedger ledger;
  std::vector<smtp::OutboundMessage> batch = {Message(10, 1), Message(11, 1), Message(12, 1)};
  ledger.AddBatch({.core = 0, .job_id = 3}, batch);
  TurnLedger::Routed routed =
      ledger.Route({Answer(batch[2].token, 0, smtp::RecipientOutcome::kDelivered),
                    Answer(batch[0].token, 0, smtp::RecipientOutcome::kDelivered),
                    Answer(batch[1].token, 0, smtp::RecipientOutcome::kDelivered)});
  EXPECT_THAT(TokensOf(routed.answers[{.core = 0, .job_id = 3}]), ElementsAre(12u, 10u, 11u));
  ASSERT_EQ(routed.done.size(), 1u);
  EXPECT_THAT(routed.done[0].job_tokens, ElementsAre(10u, 11u, 12u));
}

TEST(TurnLedgerDeathTest, AnUnknownTokenIsABrokenInvariant) {
  TurnLedger ledger;
  EXPECT_DEATH(ledger.Route({Answer(99, 0, smtp::RecipientOutcome::kDelivered)}), "check failed");
}

}  // namespace
}  // namespace etrnd::server
