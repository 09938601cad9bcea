#include "etrnd/smtp/output_chunk.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

std::string Stuffed(std::string_view body) {
  std::vector<OutputChunk> chunks;
  AppendDotStuffed(body, &chunks);
  return JoinChunks(chunks);
}

TEST(DotStuffTest, DoublesLeadingDots) {
  EXPECT_EQ(Stuffed(".hello\r\n..\r\nx.y\r\n.\r\n"), "..hello\r\n...\r\nx.y\r\n..\r\n.\r\n");
  EXPECT_EQ(Stuffed("a\r\n.\r\n..b\r\nc.d\r\n"), "a\r\n..\r\n...b\r\nc.d\r\n.\r\n");
}

TEST(DotStuffTest, PlainBodyIsUnchangedPlusTerminator) {
  EXPECT_EQ(Stuffed("Subject: a\r\n\r\nbody\r\n"), "Subject: a\r\n\r\nbody\r\n.\r\n");
}

TEST(DotStuffTest, EmptyBodyIsJustTheTerminator) { EXPECT_EQ(Stuffed(""), ".\r\n"); }

TEST(DotStuffTest, AddsMissingFinalCrlf) { EXPECT_EQ(Stuffed("a\r\n.b"), "a\r\n..b\r\n.\r\n"); }

TEST(DotStuffTest, StuffsAfterBareLfSoNoSmuggling) {
  EXPECT_EQ(Stuffed("a\n.\nb\r\n"), "a\n..\nb\r\n.\r\n");
}

TEST(DotStuffTest, BorrowsTheBodyInsteadOfCopying) {
  const std::string body = "line one\r\n.line two\r\n";
  std::vector<OutputChunk> chunks;
  AppendDotStuffed(body, &chunks);
  ASSERT_GE(chunks.size(), 2u);
  for (const OutputChunk& chunk : chunks) EXPECT_TRUE(chunk.is_borrowed());
  EXPECT_EQ(chunks[0].bytes().data(), body.data());
}

TEST(OutputChunkTest, OwnedSurvivesMove) {
  std::vector<OutputChunk> chunks;
  chunks.push_back(OutputChunk::Owned("MAIL FROM:<a@b>\r\n"));
  std::vector<OutputChunk> moved = std::move(chunks);
  EXPECT_EQ(JoinChunks(moved), "MAIL FROM:<a@b>\r\n");
}

}  // namespace
}  // namespace etrnd::smtp
