// The on-disk record format of the spool (format version 2). Every record is
//
//   magic u32 | header_crc u32 | version u8 | type u8 | reserved u16 |
//   payload_length u32 | payload_crc u32 | payload
//
// all little-endian. `reserved` holds flags: kRecordFlagRelocated marks a
// message record rewritten by compaction (an older copy of the same queue id
// may still be on disk; recovery keeps one, see relocated_copies.h).
// header_crc (CRC32C) covers the 12 header bytes after it,
// payload_crc the payload. The header has its own checksum so a damaged
// length is known as such before it is trusted: recovery then searches for
// the next magic whose header and payload both check out (resync) instead of
// giving up on the rest of the file. Message records live in segment files,
// completion records in completion logs, each behind a file header (see
// spool_file_header.h and spool_files.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace etrnd::spool {

inline constexpr uint32_t kRecordMagic = 0x52545445;  // "ETTR" little-endian
// The same number as the file header's format version.
inline constexpr uint8_t kRecordVersion = 2;
inline constexpr size_t kRecordHeaderBytes = 20;
// Bound on one record's payload; far above --max_message_size so a length
// field beyond it can only be corruption.
inline constexpr uint32_t kRecordPayloadBytesMax = 256u << 20;
// Bounds on envelope fields, generous against RFC 5321's limits.
inline constexpr size_t kEnvelopeFieldBytesMax = 0xFFFF;
inline constexpr uint32_t kRecipientsMax = 1u << 20;

enum class RecordType : uint8_t { kMessage = 1, kCompletion = 2 };
inline constexpr uint16_t kRecordFlagRelocated = 1;

// Where a record sits: enough to pread it back (seg-<core>-<segment_id>.log).
struct RecordLocation {
  uint32_t core = 0;
  uint64_t segment_id = 0;
  uint64_t offset = 0;
  uint32_t length = 0;  // header included

  friend bool operator==(const RecordLocation&, const RecordLocation&) = default;
};

// One accepted message, as the SMTP session hands it to the spool.
struct SpoolMessage {
  std::string queue_id;
  int64_t arrival_unix_micros = 0;
  std::string mail_from;  // "" = null sender
  std::vector<std::string> recipients;
  std::string data;  // the full message bytes, headers included
  // Written by compaction: a copy of a message stored earlier elsewhere.
  bool relocated = false;

  friend bool operator==(const SpoolMessage&, const SpoolMessage&) = default;
};

// Same as SpoolMessage but pointing into a decoded buffer: recovery reads the
// envelope without copying bodies.
struct SpoolMessageView {
  std::string_view queue_id;
  int64_t arrival_unix_micros = 0;
  std::string_view mail_from;
  std::vector<std::string_view> recipients;
  std::string_view data;
  bool relocated = false;  // from the record header's flags
};

enum class RecipientOutcome : uint8_t {
  kDelivered = 1,  // next hop answered 250
  kBounced = 2,    // permanent failure; the bounce message is queued
  kExpired = 3,    // older than --max_queue_lifetime; bounce queued
  kDropped = 4,    // failed with a null sender: no bounce possible
  kDeleted = 5,    // removed by the operator (etrnctl delete)
  kMoved = 6,      // compaction wrote a copy elsewhere, which is the live one
};

// One recipient of one message is finished: never to be delivered again.
struct SpoolCompletion {
  uint32_t core = 0;
  uint64_t segment_id = 0;
  uint64_t offset = 0;
  uint32_t recipient_index = 0;
  RecipientOutcome outcome = RecipientOutcome::kDelivered;

  friend bool operator==(const SpoolCompletion&, const SpoolCompletion&) = default;
};

enum class DecodeStatus { kOk, kNeedMore, kCorrupt };

struct DecodedRecord {
  DecodeStatus status = DecodeStatus::kNeedMore;
  // Bytes the record occupies (header + payload) when kOk. When kNeedMore
  // with a complete header, the full record length (so a reader knows how much
  // to buffer); else 0.
  size_t consumed = 0;
  RecordType type = RecordType::kMessage;
  uint16_t flags = 0;        // the header's reserved field (kRecordFlag*)
  std::string_view payload;  // into the input
};

// Appends one encoded record to `out`. Returns the bytes appended, or 0 when a
// field is over its bound (nothing appended then).
size_t EncodeMessage(const SpoolMessage& message, std::string* out);
size_t EncodeCompletion(const SpoolCompletion& completion, std::string* out);

// Checks the record at the start of `input` (magic, header CRC, version,
// type, length bound, payload CRC). Garbage is kCorrupt as soon as the bytes
// present show it; kNeedMore only for a prefix of a plausible record.
DecodedRecord DecodeRecord(std::string_view input);

// Parse a payload of the given type; false if malformed.
bool ParseMessagePayload(std::string_view payload, SpoolMessageView* out);
bool ParseCompletionPayload(std::string_view payload, SpoolCompletion* out);

// Convenience: decode and parse a whole message / completion record.
DecodeStatus DecodeMessage(std::string_view input, size_t* consumed, SpoolMessage* out);
DecodeStatus DecodeCompletion(std::string_view input, size_t* consumed, SpoolCompletion* out);

SpoolMessage ToOwned(const SpoolMessageView& view);

// The first fields of a message record from a prefix of it (header
// included), for listings that must not read whole bodies. Checks the
// magic and the header CRC only (the payload CRC needs the whole record).
// `mail_from` may be cut short when the prefix ends inside it.
struct EnvelopePrefix {
  int64_t arrival_unix_micros = 0;
  std::string queue_id;
  std::string mail_from;
};
bool ParseEnvelopePrefix(std::string_view record_prefix, EnvelopePrefix* out);

}  // namespace etrnd::spool
