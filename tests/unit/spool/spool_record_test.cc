#include "etrnd/spool/spool_record.h"

#include <string>

#include "gtest/gtest.h"

namespace etrnd::spool {
namespace {

SpoolMessage SampleMessage() {
  SpoolMessage message;
  message.queue_id = "4F2A9C01";
  message.arrival_unix_micros = 1700000000123456;
  message.mail_from = "alice@example.org";
  message.recipients = {"bob@a.example.com", "carol@b.example.net", ""};
  message.data = "Subject: hi\r\n\r\nbody\r\n";
  message.data.push_back('\0');
  return message;
}

TEST(SpoolRecordTest, MessageRoundTrip) {
  const SpoolMessage message = SampleMessage();
  std::string encoded = "prefix";
  const size_t length = EncodeMessage(message, &encoded);
  ASSERT_GT(length, kRecordHeaderBytes);
  EXPECT_EQ(encoded.size(), 6 + length);

  SpoolMessage decoded;
  size_t consumed = 0;
  ASSERT_EQ(DecodeMessage(std::string_view(encoded).substr(6), &consumed, &decoded),
            DecodeStatus::kOk);
  EXPECT_EQ(consumed, length);
  EXPECT_EQ(decoded, message);
}

TEST(SpoolRecordTest, NullSenderAndNoBodyRoundTrip) {
  SpoolMessage message;
  message.recipients = {"x@y.z"};
  std::string encoded;
  EncodeMessage(message, &encoded);
  SpoolMessage decoded;
  size_t consumed = 0;
  ASSERT_EQ(DecodeMessage(encoded, &consumed, &decoded), DecodeStatus::kOk);
  EXPECT_EQ(decoded, message);
}

TEST(SpoolRecordTest, CompletionRoundTrip) {
  SpoolCompletion completion{7, 1234567890123, 4096, 42, RecipientOutcome::kExpired};
  std::string encoded;
  const size_t length = EncodeCompletion(completion, &encoded);
  SpoolCompletion decoded;
  size_t consumed = 0;
  ASSERT_EQ(DecodeCompletion(encoded, &consumed, &decoded), DecodeStatus::kOk);
  EXPECT_EQ(consumed, length);
  EXPECT_EQ(decoded, completion);
}

TEST(SpoolRecordTest, ConsecutiveRecordsDecodeInOrder) {
  std::string encoded;
  const size_t first = EncodeMessage(SampleMessage(), &encoded);
  EncodeCompletion(SpoolCompletion{1, 2, 3, 0, RecipientOutcome::kBounced}, &encoded);
  const DecodedRecord a = DecodeRecord(encoded);
  ASSERT_EQ(a.status, DecodeStatus::kOk);
  EXPECT_EQ(a.type, RecordType::kMessage);
  EXPECT_EQ(a.consumed, first);
  const DecodedRecord b = DecodeRecord(std::string_view(encoded).substr(first));
  ASSERT_EQ(b.status, DecodeStatus::kOk);
  EXPECT_EQ(b.type, RecordType::kCompletion);
  EXPECT_EQ(first + b.consumed, encoded.size());
}

TEST(SpoolRecordTest, EveryPrefixNeedsMore) {
  std::string encoded;
  EncodeMessage(SampleMessage(), &encoded);
  for (size_t length = 0; length < encoded.size(); ++length) {
    const DecodedRecord record = DecodeRecord(std::string_view(encoded).substr(0, length));
    EXPECT_EQ(record.status, DecodeStatus::kNeedMore) << length;
    if (length >= kRecordHeaderBytes) {
      EXPECT_EQ(record.consumed, encoded.size());
    }
  }
}

TEST(SpoolRecordTest, EveryFlippedByteIsCorrupt) {
  std::string encoded;
  EncodeMessage(SampleMessage(), &encoded);
  for (size_t i = 0; i < encoded.size(); ++i) {
    std::string damaged = encoded;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x40);
    const DecodedRecord record = DecodeRecord(damaged);
    // A damaged length may ask for more bytes; never may it decode.
    EXPECT_NE(record.status, DecodeStatus::kOk) << i;
  }
}

TEST(SpoolRecordTest, DamagedLengthIsCorruptAtOnceNotWaitedFor) {
  std::string encoded;
  EncodeMessage(SampleMessage(), &encoded);
  for (int bit = 0; bit < 32; ++bit) {
    std::string damaged = encoded;
    damaged[12 + bit / 8] = static_cast<char>(damaged[12 + bit / 8] ^ (1 << (bit % 8)));
    // The header CRC catches it before the length is trusted.
    EXPECT_EQ(DecodeRecord(damaged).status, DecodeStatus::kCorrupt) << bit;
  }
}

TEST(SpoolRecordTest, ZeroFillIsCorruptAtOnce) {
  EXPECT_EQ(DecodeRecord(std::string(1, '\0')).status, DecodeStatus::kCorrupt);
  EXPECT_EQ(DecodeRecord(std::string(64, '\0')).status, DecodeStatus::kCorrupt);
}

TEST(SpoolRecordTest, OversizedFieldIsRefused) {
  SpoolMessage message = SampleMessage();
  message.mail_from = std::string(kEnvelopeFieldBytesMax + 1, 'a');
  std::string encoded = "keep";
  EXPECT_EQ(EncodeMessage(message, &encoded), 0u);
  EXPECT_EQ(encoded, "keep");
}

TEST(SpoolRecordTest, WrongTypeIsCorruptForTypedDecode) {
  std::string encoded;
  EncodeCompletion(SpoolCompletion{}, &encoded);
  SpoolMessage message;
  size_t consumed = 0;
  EXPECT_EQ(DecodeMessage(encoded, &consumed, &message), DecodeStatus::kCorrupt);
}

TEST(SpoolRecordTest, EnvelopePrefixFromAnyLongEnoughPrefix) {
  const SpoolMessage message = SampleMessage();
  std::string encoded;
  EncodeMessage(message, &encoded);
  EnvelopePrefix prefix;
  ASSERT_TRUE(ParseEnvelopePrefix(encoded, &prefix));
  EXPECT_EQ(prefix.queue_id, message.queue_id);
  EXPECT_EQ(prefix.arrival_unix_micros, message.arrival_unix_micros);
  EXPECT_EQ(prefix.mail_from, message.mail_from);
  // Cut inside the sender: what is there, and no more.
  const size_t sender_at = kRecordHeaderBytes + 8 + 2 + message.queue_id.size() + 2;
  ASSERT_TRUE(ParseEnvelopePrefix(std::string_view(encoded).substr(0, sender_at + 5), &prefix));
  EXPECT_EQ(prefix.mail_from, "alice");
  // Too short for the id, a completion record, or a damaged header: no.
  EXPECT_FALSE(
      ParseEnvelopePrefix(std::string_view(encoded).substr(0, kRecordHeaderBytes + 9), &prefix));
  std::string completion;
  EncodeCompletion(SpoolCompletion{}, &completion);
  EXPECT_FALSE(ParseEnvelopePrefix(completion, &prefix));
  encoded[13] ^= 1;
  EXPECT_FALSE(ParseEnvelopePrefix(encoded, &prefix));
}

}  // namespace
}  // namespace etrnd::spool
