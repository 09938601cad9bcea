#include "etrnd/blaster/message_generator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace etrnd::blaster {
namespace {

constexpr std::string_view kWords[] = {
    "the",    "queue",    "mail",  "server", "domain",  "relay", "deliver", "flush",
    "backup", "message",  "spool", "ETRN",   "dial-up", "host",  "retry",   "node",
    "office", "customer", "on",    "of",     "and",     "to",    "a",       "is"};

// One body line of random words (or a dot line), length in [0, max_bytes].
std::string RandomLine(std::mt19937_64& rng, size_t max_bytes) {
  const uint64_t kind = rng() % 16;
  if (kind == 0) return ".";                // a lone dot: must be stuffed
  if (kind == 1) return "";                 // paragraph break
  std::string line = kind == 2 ? "." : "";  // a leading dot
  const size_t target = 10 + rng() % (max_bytes - 10);
  while (line.size() < target) {
    std::string_view word = kWords[rng() % std::size(kWords)];
    if (!line.empty() && line != ".") line.push_back(' ');
    line.append(word);
  }
  line.resize(std::min(line.size(), max_bytes));
  return line;
}

}  // namespace

MessageGenerator::MessageGenerator(uint64_t run_id, int thread_index, uint64_t seed)
    : run_id_(run_id), thread_index_(thread_index), rng_(seed) {
  body_pool_.reserve(kBodyPoolLines);
  for (size_t i = 0; i < kBodyPoolLines; ++i) {
    body_pool_.push_back(RandomLine(rng_, kMaxBodyLineBytes));
  }
}

std::string MessageGenerator::Headers(const MessageEnvelope& envelope) {
  ++sequence_;
  const std::string to = envelope.recipients.empty()
                             ? "undisclosed-recipients:;"
                             : absl::StrCat("<", envelope.recipients[0], ">");
  return absl::StrFormat(
      "Message-ID: <%016x.%d.%d@blaster.invalid>\r\n"
      "Date: %s\r\n"
      "From: Load Generator <%s>\r\n"
      "To: %s\r\n"
      "Subject: smtp-blaster test message %d\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=us-ascii\r\n"
      "\r\n",
      run_id_, thread_index_, sequence_,
      absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", absl::Now(), absl::UTCTimeZone()),
      envelope.mail_from.empty() ? "blaster@blaster.invalid" : envelope.mail_from, to, sequence_);
}

// Takes pool lines (from a random start) while they fit; a last filler line
// makes the total exact. Never leaves exactly 1 octet, which no line fits.
void MessageGenerator::AppendBody(size_t body_bytes, std::string* out) {
  size_t remaining = body_bytes;
  size_t index = rng_() % body_pool_.size();
  while (true) {
    const std::string& line = body_pool_[index];
    const size_t line_bytes = line.size() + 2;
    if (line_bytes != remaining && line_bytes + 2 > remaining) break;
    out->append(line);
    out->append("\r\n");
    remaining -= line_bytes;
    index = (index + 1) % body_pool_.size();
  }
  if (remaining >= 2) {
    out->append(remaining - 2, 'x');
    out->append("\r\n");
  }
}

std::string MessageGenerator::Generate(const MessageEnvelope& envelope, size_t size_bytes) {
  std::string message = Headers(envelope);
  const size_t body_bytes = size_bytes >= message.size() + 2 ? size_bytes - message.size() : 2;
  message.reserve(message.size() + body_bytes);
  AppendBody(body_bytes, &message);
  return message;
}

}  // namespace etrnd::blaster
