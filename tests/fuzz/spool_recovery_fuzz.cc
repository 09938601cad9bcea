// libFuzzer harness: spool recovery after disk damage. Each input builds a
// real spool directory holding N known messages (written by the real
// SegmentAppender), applies fuzzer-chosen damage to the segment (bit flips,
// overwrites, zeroed pages, truncation, inserted bytes), runs RecoverSpool
// twice, and aborts unless
//   - recovery succeeds (the server always starts);
//   - every message whose bytes the damage left intact (possibly shifted by
//     insertions) comes back at its new offset and reads back exactly;
//   - nothing is invented (only known queue ids, each at most once);
//   - a second recovery finds the same messages (repairs are idempotent);
//   - with a compaction copy (the last message is message 0 again, flagged
//     relocated): one of the two comes back, the copy when it is intact.
// Layout of an input: byte 0 = message count (low 4 bits; bit 4: the last
// message is a relocated copy of the first), then one body size byte per
// message, then 5-byte damage ops (op, position u16, argument u16).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/control/control_request.h"
#include "etrnd/spool/segment_appender.h"
#include "etrnd/spool/spool_recovery.h"

namespace {

using etrnd::spool::RecordLocation;
using etrnd::spool::SpoolMessage;

constexpr size_t kMessagesMax = 16;
constexpr size_t kOpsMax = 8;
constexpr size_t kOpBytes = 5;
constexpr size_t kPageBytes = 4096;
constexpr size_t kInsertBytesMax = 64;

enum Op : uint8_t { kFlipBit, kOverwrite, kZeroPage, kZeroRange, kTruncate, kInsert, kOpCount };

// A message's bytes in the damaged file: where they are now, and whether the
// damage spared them.
struct Tracked {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool intact = true;
};

class TempSpool {
 public:
  TempSpool() {
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string pattern = std::string(base) + "/etrnd-spool-fuzz-XXXXXX";
    ETRND_CHECK(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempSpool() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

SpoolMessage MakeMessage(size_t index, size_t body_bytes) {
  SpoolMessage message;
  message.queue_id = etrnd::control::FormatQueueId(0x1000 + index);
  message.arrival_unix_micros = 1000 + static_cast<int64_t>(index);
  message.mail_from = "s@example.org";
  message.recipients = {"r" + std::to_string(index) + "@example.com"};
  message.data = std::string(body_bytes, static_cast<char>('a' + index % 26));
  return message;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ETRND_CHECK(out.good());
}

void Touch(std::vector<Tracked>& tracked, uint64_t begin, uint64_t end) {
  for (Tracked& t : tracked) {
    if (t.offset < end && begin < t.offset + t.length) t.intact = false;
  }
}

void ApplyOp(const uint8_t* op, std::string& file, std::vector<Tracked>& tracked) {
  const uint64_t size = file.size();
  const uint64_t position = (op[1] | op[2] << 8) % (size + 1);
  const uint16_t argument = static_cast<uint16_t>(op[3] | op[4] << 8);
  switch (op[0] % kOpCount) {
    case kFlipBit:
      if (position == size) return;
      file[position] = static_cast<char>(file[position] ^ (1 << (argument % 8)));
      Touch(tracked, position, position + 1);
      return;
    case kOverwrite: {
      const uint64_t end = std::min<uint64_t>(size, position + 1 + argument % 8);
      for (uint64_t i = position; i < end; ++i) file[i] = static_cast<char>(argument >> 8);
      Touch(tracked, position, end);
      return;
    }
    case kZeroPage: {
      const uint64_t begin = position / kPageBytes * kPageBytes;
      const uint64_t end = std::min<uint64_t>(size, begin + kPageBytes);
      std::fill(file.begin() + begin, file.begin() + end, '\0');
      Touch(tracked, begin, end);
      return;
    }
    case kZeroRange: {
      const uint64_t end = std::min<uint64_t>(size, position + argument % 512);
      std::fill(file.begin() + position, file.begin() + end, '\0');
      Touch(tracked, position, end);
      return;
    }
    case kTruncate:
      file.resize(position);
      Touch(tracked, position, UINT64_MAX);
      return;
    case kInsert: {
      const size_t count = 1 + argument % kInsertBytesMax;
      file.insert(position, count, static_cast<char>(argument >> 8));
      for (Tracked& t : tracked) {
        if (t.offset < position && position < t.offset + t.length) t.intact = false;
        if (t.offset >= position) t.offset += count;
      }
      return;
    }
    default:
      return;
  }
}

struct Recovered {
  std::vector<uint64_t> queue_ids;
  bool moved_aside = false;
  friend bool operator==(const Recovered&, const Recovered&) = default;
};

Recovered RecoverAndCheck(const std::string& dir, const std::vector<SpoolMessage>& messages,
                          const std::vector<Tracked>& tracked, bool relocated_copy) {
  absl::StatusOr<etrnd::spool::RecoveryResult> result = etrnd::spool::RecoverSpool(dir);
  ETRND_CHECK(result.ok());
  Recovered recovered;
  std::set<uint64_t> seen;
  for (const etrnd::spool::RecoveredMessage& message : result->messages) {
    ETRND_CHECK(seen.insert(message.queue_id).second);  // nothing twice
    ETRND_CHECK(message.queue_id >= 0x1000);
    recovered.queue_ids.push_back(message.queue_id);
  }
  recovered.moved_aside = result->stats.files_moved_aside > 0;
  if (recovered.moved_aside) {
    // The damage made the header claim another format version: the file
    // is kept aside untouched (checked by the caller), nothing is read.
    ETRND_CHECK(result->messages.empty());
    return recovered;
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    if (!tracked[i].intact) continue;
    // The original of an intact copy is finished: the copy stands for it.
    if (i == 0 && relocated_copy && tracked.back().intact) continue;
    const auto found =
        std::find_if(result->messages.begin(), result->messages.end(), [&](const auto& m) {
          return m.queue_id == etrnd::control::ParseQueueId(messages[i].queue_id);
        });
    if (found == result->messages.end()) {
      std::fprintf(stderr, "intact message %s at %lu lost\n", messages[i].queue_id.c_str(),
                   static_cast<unsigned long>(tracked[i].offset));
      std::abort();
    }
    // The tracking is conservative (a copy it calls damaged may be whole):
    // then the copy may stand for the original.
    size_t expected = i;
    if (i == 0 && relocated_copy && found->location.offset == tracked.back().offset) {
      expected = tracked.size() - 1;
    }
    ETRND_CHECK(found->location.offset == tracked[expected].offset);
    ETRND_CHECK(found->location.length == tracked[expected].length);
    absl::StatusOr<SpoolMessage> body = etrnd::spool::ReadMessage(dir, found->location);
    ETRND_CHECK(body.ok() && *body == messages[expected]);
  }
  return recovered;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    etrnd::SetLogLevel(etrnd::LogLevel::kError);
    return true;
  }();
  (void)quiet;
  if (size < 1) return 0;
  const size_t count = 1 + data[0] % kMessagesMax;
  const bool relocated_copy = count >= 2 && (data[0] & 0x10) != 0;
  if (size < 1 + count) return 0;
  TempSpool spool;

  std::vector<SpoolMessage> messages;
  std::vector<Tracked> tracked;
  {
    etrnd::spool::AppenderOptions options;
    options.spool_dir = spool.path();
    auto appender = etrnd::spool::SegmentAppender::Open(options);
    ETRND_CHECK(appender.ok());
    for (size_t i = 0; i < count; ++i) {
      messages.push_back(MakeMessage(i, data[1 + i] * 4u));
      if (relocated_copy && i == count - 1) {
        messages.back() = messages.front();
        messages.back().relocated = true;
      }
      absl::StatusOr<RecordLocation> location = (*appender)->Append(messages.back());
      ETRND_CHECK(location.ok());
      tracked.push_back(Tracked{location->offset, location->length, true});
    }
    while (std::optional<etrnd::spool::SpoolBatch> batch = (*appender)->TakeBatch()) {
      ETRND_CHECK(::pwrite(batch->fd, batch->bytes.data(), batch->bytes.size(),
                           static_cast<off_t>(batch->offset)) ==
                  static_cast<ssize_t>(batch->bytes.size()));
      (*appender)->BatchDurable(*batch);
    }
  }
  const std::string path = etrnd::spool::SegmentPath(spool.path(), 0, 0);
  std::string file = ReadFile(path);
  const uint8_t* ops = data + 1 + count;
  const size_t op_count = std::min(kOpsMax, (size - 1 - count) / kOpBytes);
  for (size_t i = 0; i < op_count; ++i) ApplyOp(ops + i * kOpBytes, file, tracked);
  WriteFile(path, file);

  const Recovered first = RecoverAndCheck(spool.path(), messages, tracked, relocated_copy);
  if (first.moved_aside) {
    // Moved aside: it must be there, byte for byte.
    ETRND_CHECK(!std::filesystem::exists(path));
    ETRND_CHECK(ReadFile(spool.path() + "/damaged/seg-0-0000000000.log") == file);
    return 0;
  }
  // A segment with no message left is deleted; else it is never shortened
  // below its last intact message (checked by the reads above).
  const Recovered second = RecoverAndCheck(spool.path(), messages, tracked, relocated_copy);
  ETRND_CHECK(first == second);
  return 0;
}
