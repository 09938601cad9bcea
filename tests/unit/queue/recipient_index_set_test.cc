#include "etrnd/queue/recipient_index_set.h"

#include <algorithm>
#include <set>

#include "gtest/gtest.h"

namespace etrnd::queue {
namespace {

std::vector<uint32_t> Sorted(const RecipientIndexSet& set) {
  std::vector<uint32_t> indexes = set.ToVector();
  std::sort(indexes.begin(), indexes.end());
  return indexes;
}

TEST(RecipientIndexSetTest, InlineAddRemove) {
  RecipientIndexSet set;
  EXPECT_TRUE(set.empty());
  EXPECT_TRUE(set.Add(0));
  EXPECT_FALSE(set.Add(0));
  EXPECT_TRUE(set.Add(999));
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(set.HeapBytes(), 0u);
  EXPECT_TRUE(set.Contains(999));
  EXPECT_FALSE(set.Contains(1));
  EXPECT_TRUE(set.Remove(0));
  EXPECT_FALSE(set.Remove(0));
  EXPECT_EQ(Sorted(set), std::vector<uint32_t>{999});
  EXPECT_TRUE(set.Remove(999));
  EXPECT_TRUE(set.empty());
}

TEST(RecipientIndexSetTest, SpillsToHeapAndComesBack) {
  RecipientIndexSet set;
  for (uint32_t i = 0; i < 10; ++i) EXPECT_TRUE(set.Add(i * 3));
  EXPECT_EQ(set.size(), 10u);
  EXPECT_GT(set.HeapBytes(), 0u);
  EXPECT_FALSE(set.Add(9));
  for (uint32_t i = 0; i < 8; ++i) EXPECT_TRUE(set.Remove(i * 3));
  EXPECT_EQ(set.HeapBytes(), 0u);
  EXPECT_EQ(Sorted(set), (std::vector<uint32_t>{24, 27}));
}

TEST(RecipientIndexSetTest, MatchesAStdSetUnderRandomOperations) {
  RecipientIndexSet set;
  std::set<uint32_t> model;
  uint32_t state = 12345;
  for (int step = 0; step < 5000; ++step) {
    state = state * 1103515245u + 12345u;
    const uint32_t index = (state >> 16) % 8;
    if ((state >> 8) & 1) {
      EXPECT_EQ(set.Add(index), model.insert(index).second);
    } else {
      EXPECT_EQ(set.Remove(index), model.erase(index) == 1);
    }
    ASSERT_EQ(set.size(), model.size());
  }
  EXPECT_EQ(Sorted(set), std::vector<uint32_t>(model.begin(), model.end()));
}

TEST(RecipientIndexSetTest, MoveTransfersOwnership) {
  RecipientIndexSet a;
  for (uint32_t i = 0; i < 5; ++i) a.Add(i);
  RecipientIndexSet b(std::move(a));
  EXPECT_EQ(b.size(), 5u);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): defined state
  RecipientIndexSet c;
  c.Add(7);
  c = std::move(b);
  EXPECT_EQ(c.size(), 5u);
  EXPECT_FALSE(c.Contains(7));
}

TEST(RecipientIndexSetTest, RefusesIndexOverLimit) {
  RecipientIndexSet set;
  EXPECT_FALSE(set.Add(RecipientIndexSet::kIndexLimit));
  EXPECT_TRUE(set.Add(RecipientIndexSet::kIndexLimit - 1));
  EXPECT_TRUE(set.Contains(RecipientIndexSet::kIndexLimit - 1));
}

}  // namespace
}  // namespace etrnd::queue
