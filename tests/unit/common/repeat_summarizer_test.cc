#include "etrnd/common/repeat_summarizer.h"

#include "gtest/gtest.h"

namespace etrnd {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

class RepeatSummarizerTest : public ::testing::Test {
 protected:
  // Admit at kStart + offset; returns whether the line is written.
  bool AdmitAt(absl::Duration offset, std::string_view event = "ETRN 458",
               std::string_view client = "192.0.2.1") {
    return summarizer_.Admit(event, client, /*level=*/2, kStart + offset, &suppressed_, &over_);
  }

  RepeatSummarizer summarizer_{absl::Seconds(1), /*keys_max=*/3};
  uint64_t suppressed_ = 0;
  absl::Duration over_;
};

TEST_F(RepeatSummarizerTest, FirstEventIsWrittenRepeatsWithinIntervalAreCounted) {
  EXPECT_TRUE(AdmitAt(absl::ZeroDuration()));
  EXPECT_EQ(suppressed_, 0u);
  for (int i = 1; i <= 4999; ++i) {
    EXPECT_FALSE(AdmitAt(absl::Microseconds(i * 100))) << i;
  }
  // The next one after the interval carries the count.
  EXPECT_TRUE(AdmitAt(absl::Milliseconds(1200)));
  EXPECT_EQ(suppressed_, 4999u);
  EXPECT_EQ(over_, absl::Milliseconds(1200));
  EXPECT_FALSE(AdmitAt(absl::Milliseconds(1300)));
}

TEST_F(RepeatSummarizerTest, KeysAreEventAndClient) {
  EXPECT_TRUE(AdmitAt(absl::ZeroDuration(), "ETRN 458", "192.0.2.1"));
  EXPECT_TRUE(AdmitAt(absl::ZeroDuration(), "ETRN 458", "192.0.2.2"));
  EXPECT_TRUE(AdmitAt(absl::ZeroDuration(), "too many connections", "192.0.2.1"));
  EXPECT_FALSE(AdmitAt(absl::Milliseconds(1), "ETRN 458", "192.0.2.2"));
  EXPECT_EQ(summarizer_.keys(), 3u);
}

TEST_F(RepeatSummarizerTest, TakeDueSummarisesStoppedRepeatsAndForgetsIdleKeys) {
  EXPECT_TRUE(AdmitAt(absl::ZeroDuration(), "ETRN 458", "192.0.2.1"));
  EXPECT_FALSE(AdmitAt(absl::Milliseconds(10), "ETRN 458", "192.0.2.1"));
  EXPECT_FALSE(AdmitAt(absl::Milliseconds(20), "ETRN 458", "192.0.2.1"));
  EXPECT_TRUE(AdmitAt(absl::ZeroDuration(), "idle", "192.0.2.9"));
  EXPECT_TRUE(summarizer_.TakeDue(kStart + absl::Milliseconds(500)).empty());

  auto due = summarizer_.TakeDue(kStart + absl::Milliseconds(1500));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].event, "ETRN 458");
  EXPECT_EQ(due[0].client, "192.0.2.1");
  EXPECT_EQ(due[0].level, 2);
  EXPECT_EQ(due[0].suppressed, 2u);
  EXPECT_EQ(due[0].over, absl::Milliseconds(1500));
  // The idle key is gone; the summarised one starts a new window.
  EXPECT_EQ(summarizer_.keys(), 1u);
  EXPECT_FALSE(AdmitAt(absl::Milliseconds(1600), "ETRN 458", "192.0.2.1"));
  EXPECT_TRUE(AdmitAt(absl::Milliseconds(1600), "idle", "192.0.2.9"));
  // Nothing pending twice: a second sweep at once reports nothing.
  EXPECT_TRUE(summarizer_.TakeDue(kStart + absl::Milliseconds(1600)).empty());
}

TEST_F(RepeatSummarizerTest, KeysAreBoundedNewKeysBeyondTheBoundAreWrittenUntracked) {
  EXPECT_TRUE(AdmitAt(absl::ZeroDuration(), "e", "1"));
  EXPECT_TRUE(AdmitAt(absl::ZeroDuration(), "e", "2"));
  EXPECT_TRUE(AdmitAt(absl::ZeroDuration(), "e", "3"));
  EXPECT_TRUE(AdmitAt(absl::ZeroDuration(), "e", "4"));
  EXPECT_TRUE(AdmitAt(absl::Milliseconds(1), "e", "4"));  // not tracked
  EXPECT_EQ(summarizer_.keys(), 3u);
  EXPECT_FALSE(AdmitAt(absl::Milliseconds(1), "e", "1"));
}

}  // namespace
}  // namespace etrnd
