#include "etrnd/spool/spool_record.h"

#include <algorithm>

#include "etrnd/common/check.h"
#include "etrnd/spool/crc32c.h"

namespace etrnd::spool {
namespace {

constexpr size_t kHeaderCrcOffset = 4;
constexpr size_t kHeaderCrcCoveredOffset = 8;  // header CRC covers [8, 20)
constexpr size_t kVersionOffset = 8;
constexpr size_t kTypeOffset = 9;
constexpr size_t kFlagsOffset = 10;
constexpr size_t kLengthOffset = 12;
constexpr size_t kPayloadCrcOffset = 16;
constexpr size_t kCompletionPayloadBytes = 4 + 8 + 8 + 4 + 1;

void PutU8(std::string* out, uint8_t value) { out->push_back(static_cast<char>(value)); }

void PutLittleEndian(std::string* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(value >> (8 * i)));
}

void StoreU32At(std::string* out, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i) (*out)[at + i] = static_cast<char>(value >> (8 * i));
}

uint64_t LoadLittleEndian(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return value;
}

// Bounds-checked sequential reader over a payload.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view data) : data_(data) {}

  bool ReadInt(int bytes, uint64_t* value) {
    if (data_.size() < static_cast<size_t>(bytes)) return false;
    *value = LoadLittleEndian(data_.data(), bytes);
    data_.remove_prefix(bytes);
    return true;
  }
  bool ReadBytes(size_t length, std::string_view* value) {
    if (data_.size() < length) return false;
    *value = data_.substr(0, length);
    data_.remove_prefix(length);
    return true;
  }
  bool ReadShortString(std::string_view* value) {
    uint64_t length;
    return ReadInt(2, &length) && ReadBytes(length, value);
  }
  bool done() const { return data_.empty(); }

 private:
  std::string_view data_;
};

// Writes the header with a placeholder CRC; returns the record's start.
size_t BeginRecord(RecordType type, std::string* out, uint16_t flags = 0) {
  const size_t start = out->size();
  PutLittleEndian(out, kRecordMagic, 4);
  PutLittleEndian(out, 0, 4);  // header crc, filled by FinishRecord
  PutU8(out, kRecordVersion);
  PutU8(out, static_cast<uint8_t>(type));
  PutLittleEndian(out, flags, 2);  // reserved: flags
  PutLittleEndian(out, 0, 4);      // payload length, filled by FinishRecord
  PutLittleEndian(out, 0, 4);      // payload crc, filled by FinishRecord
  return start;
}

size_t FinishRecord(size_t start, std::string* out) {
  const size_t length = out->size() - start;
  ETRND_CHECK(length >= kRecordHeaderBytes);
  const std::string_view payload(out->data() + start + kRecordHeaderBytes,
                                 length - kRecordHeaderBytes);
  StoreU32At(out, start + kLengthOffset, static_cast<uint32_t>(payload.size()));
  StoreU32At(out, start + kPayloadCrcOffset, Crc32c(payload));
  const std::string_view header(out->data() + start + kHeaderCrcCoveredOffset,
                                kRecordHeaderBytes - kHeaderCrcCoveredOffset);
  StoreU32At(out, start + kHeaderCrcOffset, Crc32c(header));
  return length;
}

bool MessageFitsBounds(const SpoolMessage& message) {
  if (message.queue_id.size() > kEnvelopeFieldBytesMax) return false;
  if (message.mail_from.size() > kEnvelopeFieldBytesMax) return false;
  if (message.recipients.size() > kRecipientsMax) return false;
  size_t payload =
      8 + 2 + message.queue_id.size() + 2 + message.mail_from.size() + 4 + 4 + message.data.size();
  for (const std::string& recipient : message.recipients) {
    if (recipient.size() > kEnvelopeFieldBytesMax) return false;
    payload += 2 + recipient.size();
  }
  return payload <= kRecordPayloadBytesMax;
}

void PutShortString(std::string* out, std::string_view value) {
  PutLittleEndian(out, value.size(), 2);
  out->append(value);
}

}  // namespace

size_t EncodeMessage(const SpoolMessage& message, std::string* out) {
  if (!MessageFitsBounds(message)) return 0;
  const size_t start =
      BeginRecord(RecordType::kMessage, out, message.relocated ? kRecordFlagRelocated : 0);
  PutLittleEndian(out, static_cast<uint64_t>(message.arrival_unix_micros), 8);
  PutShortString(out, message.queue_id);
  PutShortString(out, message.mail_from);
  PutLittleEndian(out, message.recipients.size(), 4);
  for (const std::string& recipient : message.recipients) PutShortString(out, recipient);
  PutLittleEndian(out, message.data.size(), 4);
  out->append(message.data);
  return FinishRecord(start, out);
}

size_t EncodeCompletion(const SpoolCompletion& completion, std::string* out) {
  const size_t start = BeginRecord(RecordType::kCompletion, out);
  PutLittleEndian(out, completion.core, 4);
  PutLittleEndian(out, completion.segment_id, 8);
  PutLittleEndian(out, completion.offset, 8);
  PutLittleEndian(out, completion.recipient_index, 4);
  PutU8(out, static_cast<uint8_t>(completion.outcome));
  return FinishRecord(start, out);
}

DecodedRecord DecodeRecord(std::string_view input) {
  DecodedRecord result;
  // Check what is there even before the header is complete, so garbage is
  // reported as corrupt rather than waited for.
  const size_t magic_bytes = std::min<size_t>(input.size(), 4);
  for (size_t i = 0; i < magic_bytes; ++i) {
    if (static_cast<uint8_t>(input[i]) != static_cast<uint8_t>(kRecordMagic >> (8 * i))) {
      result.status = DecodeStatus::kCorrupt;
      return result;
    }
  }
  if (input.size() < kRecordHeaderBytes) return result;  // kNeedMore
  const uint32_t header_crc =
      static_cast<uint32_t>(LoadLittleEndian(input.data() + kHeaderCrcOffset, 4));
  if (Crc32c(input.substr(kHeaderCrcCoveredOffset, kRecordHeaderBytes - kHeaderCrcCoveredOffset)) !=
      header_crc) {
    result.status = DecodeStatus::kCorrupt;
    return result;
  }
  const uint8_t version = static_cast<uint8_t>(input[kVersionOffset]);
  const uint8_t type = static_cast<uint8_t>(input[kTypeOffset]);
  const uint64_t payload_length = LoadLittleEndian(input.data() + kLengthOffset, 4);
  const bool known_type = type == static_cast<uint8_t>(RecordType::kMessage) ||
                          type == static_cast<uint8_t>(RecordType::kCompletion);
  if (version != kRecordVersion || !known_type || payload_length > kRecordPayloadBytesMax) {
    result.status = DecodeStatus::kCorrupt;
    return result;
  }
  const size_t total = kRecordHeaderBytes + payload_length;
  result.consumed = total;
  if (input.size() < total) return result;  // kNeedMore
  const uint32_t payload_crc =
      static_cast<uint32_t>(LoadLittleEndian(input.data() + kPayloadCrcOffset, 4));
  if (Crc32c(input.substr(kRecordHeaderBytes, payload_length)) != payload_crc) {
    result.status = DecodeStatus::kCorrupt;
    result.consumed = 0;
    return result;
  }
  result.status = DecodeStatus::kOk;
  result.type = static_cast<RecordType>(type);
  result.flags = static_cast<uint16_t>(LoadLittleEndian(input.data() + kFlagsOffset, 2));
  result.payload = input.substr(kRecordHeaderBytes, payload_length);
  return result;
}

bool ParseMessagePayload(std::string_view payload, SpoolMessageView* out) {
  PayloadReader reader(payload);
  uint64_t arrival, recipient_count, data_length;
  if (!reader.ReadInt(8, &arrival)) return false;
  out->arrival_unix_micros = static_cast<int64_t>(arrival);
  if (!reader.ReadShortString(&out->queue_id)) return false;
  if (!reader.ReadShortString(&out->mail_from)) return false;
  if (!reader.ReadInt(4, &recipient_count) || recipient_count > kRecipientsMax) return false;
  out->recipients.clear();
  out->recipients.reserve(recipient_count);
  for (uint64_t i = 0; i < recipient_count; ++i) {
    std::string_view recipient;
    if (!reader.ReadShortString(&recipient)) return false;
    out->recipients.push_back(recipient);
  }
  if (!reader.ReadInt(4, &data_length)) return false;
  if (!reader.ReadBytes(data_length, &out->data)) return false;
  return reader.done();
}

bool ParseCompletionPayload(std::string_view payload, SpoolCompletion* out) {
  if (payload.size() != kCompletionPayloadBytes) return false;
  PayloadReader reader(payload);
  uint64_t core = 0, segment_id = 0, offset = 0, recipient_index = 0, outcome = 0;
  reader.ReadInt(4, &core);
  reader.ReadInt(8, &segment_id);
  reader.ReadInt(8, &offset);
  reader.ReadInt(4, &recipient_index);
  reader.ReadInt(1, &outcome);
  if (outcome < static_cast<uint8_t>(RecipientOutcome::kDelivered) ||
      outcome > static_cast<uint8_t>(RecipientOutcome::kMoved)) {
    return false;
  }
  out->core = static_cast<uint32_t>(core);
  out->segment_id = segment_id;
  out->offset = offset;
  out->recipient_index = static_cast<uint32_t>(recipient_index);
  out->outcome = static_cast<RecipientOutcome>(outcome);
  return true;
}

SpoolMessage ToOwned(const SpoolMessageView& view) {
  SpoolMessage message;
  message.queue_id = std::string(view.queue_id);
  message.arrival_unix_micros = view.arrival_unix_micros;
  message.mail_from = std::string(view.mail_from);
  message.recipients.assign(view.recipients.begin(), view.recipients.end());
  message.data = std::string(view.data);
  message.relocated = view.relocated;
  return message;
}

DecodeStatus DecodeMessage(std::string_view input, size_t* consumed, SpoolMessage* out) {
  const DecodedRecord record = DecodeRecord(input);
  if (record.status != DecodeStatus::kOk) return record.status;
  SpoolMessageView view;
  if (record.type != RecordType::kMessage || !ParseMessagePayload(record.payload, &view)) {
    return DecodeStatus::kCorrupt;
  }
  view.relocated = (record.flags & kRecordFlagRelocated) != 0;
  *out = ToOwned(view);
  *consumed = record.consumed;
  return DecodeStatus::kOk;
}

DecodeStatus DecodeCompletion(std::string_view input, size_t* consumed, SpoolCompletion* out) {
  const DecodedRecord record = DecodeRecord(input);
  if (record.status != DecodeStatus::kOk) return record.status;
  if (record.type != RecordType::kCompletion || !ParseCompletionPayload(record.payload, out)) {
    return DecodeStatus::kCorrupt;
  }
  *consumed = record.consumed;
  return DecodeStatus::kOk;
}

bool ParseEnvelopePrefix(std::string_view record_prefix, EnvelopePrefix* out) {
  if (record_prefix.size() < kRecordHeaderBytes) return false;
  if (LoadLittleEndian(record_prefix.data(), 4) != kRecordMagic) return false;
  const uint32_t header_crc =
      static_cast<uint32_t>(LoadLittleEndian(record_prefix.data() + kHeaderCrcOffset, 4));
  if (Crc32c(record_prefix.substr(kHeaderCrcCoveredOffset,
                                  kRecordHeaderBytes - kHeaderCrcCoveredOffset)) != header_crc ||
      static_cast<uint8_t>(record_prefix[kTypeOffset]) !=
          static_cast<uint8_t>(RecordType::kMessage)) {
    return false;
  }
  const uint64_t payload_length = LoadLittleEndian(record_prefix.data() + kLengthOffset, 4);
  std::string_view payload = record_prefix.substr(kRecordHeaderBytes);
  if (payload.size() > payload_length) payload = payload.substr(0, payload_length);
  PayloadReader reader(payload);
  uint64_t arrival;
  std::string_view queue_id;
  if (!reader.ReadInt(8, &arrival) || !reader.ReadShortString(&queue_id)) return false;
  out->arrival_unix_micros = static_cast<int64_t>(arrival);
  out->queue_id = std::string(queue_id);
  std::string_view mail_from;
  uint64_t length;
  if (!reader.ReadInt(2, &length)) return false;
  if (!reader.ReadBytes(length, &mail_from)) {
    // Cut short by the prefix: keep what is there.
    mail_from = payload.substr(8 + 2 + queue_id.size() + 2);
  }
  out->mail_from = std::string(mail_from);
  return true;
}

}  // namespace etrnd::spool
