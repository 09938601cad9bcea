// spool-gen: writes a valid spool directory of N queued messages, as etrnd
// would have stored them, for restart-recovery tests and benchmarks at
// ISP scale (1e7 messages in seconds). It uses the spool library's own
// writers (SegmentAppender: file headers, records, segment names and rolls),
// but writes big batches and does not sync them unless asked (--sync).
//
// Recipients: --big=DOMAIN:COUNT,... messages first (one domain each, to
// give probes for every size), then the rest spread round-robin over
// --domains domains d<k>.test (or c<k>.PARENT with --parent=PARENT: the
// subdomains one `ETRN @PARENT` flushes). Messages go round-robin to --cores cores'
// segment files (seg-<core>-<id>.log), which roll at --segment_bytes_max
// like etrnd's.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "etrnd/spool/segment_appender.h"
#include "etrnd/spool/spool_files.h"

ABSL_FLAG(std::string, spool_dir, "", "Spool directory to create (must not hold segment files).");
ABSL_FLAG(uint64_t, messages, 10000, "Messages in all (the --big ones included).");
ABSL_FLAG(uint64_t, domains, 1000, "Domains d<k>.test the other messages are spread over.");
ABSL_FLAG(std::string, parent, "",
          "If set, the spread domains are c<k>.PARENT (k zero-padded to 5 digits) instead of "
          "d<k>.test: subdomains of one parent, for `ETRN @PARENT`.");
ABSL_FLAG(std::string, big, "",
          "Comma-separated DOMAIN:COUNT: COUNT messages for DOMAIN each (probes of every size).");
ABSL_FLAG(uint32_t, recipients, 1, "Recipients per message (in the same domain).");
ABSL_FLAG(uint32_t, body_bytes, 300, "Bytes of each message's body.");
ABSL_FLAG(uint32_t, cores, 2, "Cores whose segment files hold the messages (etrnd --threads).");
ABSL_FLAG(uint64_t, segment_bytes_max, 64ull << 20, "Segment files roll at this size (etrnd's).");
ABSL_FLAG(std::string, sender, "sender@example.org", "MAIL FROM of every message.");
ABSL_FLAG(bool, sync, false,
          "fdatasync each written batch (off: the page cache writes it back; a test spool "
          "needs no crash safety, and 1e7 messages are written at memory speed).");

namespace {

using etrnd::spool::AppenderOptions;
using etrnd::spool::SegmentAppender;
using etrnd::spool::SpoolBatch;
using etrnd::spool::SpoolMessage;

// Bytes encoded before a batch is written: big writes, few syscalls.
constexpr uint64_t kWriteBatchBytes = 8ull << 20;
// Messages between progress lines.
constexpr uint64_t kProgressEvery = 1000000;

struct BigDomain {
  std::string name;
  uint64_t count = 0;
};

bool ParseBig(const std::string& text, std::vector<BigDomain>* out) {
  if (text.empty()) return true;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    std::pair<std::string, std::string> parts = absl::StrSplit(item, absl::MaxSplits(':', 1));
    BigDomain big{parts.first, 0};
    if (big.name.empty() || !absl::SimpleAtoi(parts.second, &big.count)) return false;
    out->push_back(std::move(big));
  }
  return true;
}

// Writes a batch where the appender says, then marks it durable (synced
// only with --sync).
bool WriteBatch(SegmentAppender& appender) {
  std::optional<SpoolBatch> batch = appender.TakeBatch();
  if (!batch) return true;
  size_t done = 0;
  while (done < batch->bytes.size()) {
    const ssize_t n = ::pwrite(batch->fd, batch->bytes.data() + done, batch->bytes.size() - done,
                               static_cast<off_t>(batch->offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fprintf(stderr, "spool-gen: write: %s\n", std::strerror(errno));
      return false;
    }
    done += static_cast<size_t>(n);
  }
  if (absl::GetFlag(FLAGS_sync) && ::fdatasync(batch->fd) != 0) {
    std::fprintf(stderr, "spool-gen: fdatasync: %s\n", std::strerror(errno));
    return false;
  }
  appender.BatchDurable(*batch);
  return true;
}

class Generator {
 public:
  Generator(std::vector<std::unique_ptr<SegmentAppender>> appenders, std::string body)
      : appenders_(std::move(appenders)) {
    message_.mail_from = absl::GetFlag(FLAGS_sender);
    message_.data = std::move(body);
    message_.recipients.resize(absl::GetFlag(FLAGS_recipients));
  }

  bool Add(const std::string& domain) {
    const uint64_t n = written_++;
    const uint32_t core = static_cast<uint32_t>(n % appenders_.size());
    // Core::NewQueueId's shape: 11 hex digits of time, core, counter.
    message_.queue_id =
        absl::StrFormat("%011X%02X%03X", (start_micros_ + n) & 0xFFFFFFFFFFFull, core, n & 0xFFF);
    message_.arrival_unix_micros = static_cast<int64_t>(start_micros_ + n);
    for (size_t i = 0; i < message_.recipients.size(); ++i) {
      message_.recipients[i] = absl::StrFormat("u%d.%d@%s", n, i, domain);
    }
    SegmentAppender& appender = *appenders_[core];
    if (absl::StatusOr<etrnd::spool::RecordLocation> location = appender.Append(message_);
        !location.ok()) {
      std::fprintf(stderr, "spool-gen: %s\n", location.status().ToString().c_str());
      return false;
    }
    // A roll leaves the old file's batch first in line: write until the
    // pending bytes are under the bound (and every file's batch is out).
    while (appender.pending_bytes() >= kWriteBatchBytes) {
      if (!WriteBatch(appender)) return false;
    }
    if (written_ % kProgressEvery == 0) std::fprintf(stderr, "spool-gen: %lu messages\n", written_);
    return true;
  }

  bool Finish() {
    for (auto& appender : appenders_) {
      while (appender->pending_bytes() > 0) {
        if (!WriteBatch(*appender)) return false;
      }
    }
    return true;
  }

  uint64_t written() const { return written_; }

 private:
  std::vector<std::unique_ptr<SegmentAppender>> appenders_;
  SpoolMessage message_;
  uint64_t written_ = 0;
  const uint64_t start_micros_ = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
};

std::string MakeBody(uint32_t bytes) {
  std::string body = "Subject: spool-gen\r\nFrom: sender@example.org\r\n\r\n";
  while (body.size() + 2 < bytes) body += static_cast<char>('a' + body.size() % 26);
  body += "\r\n";
  return body;
}

int Run() {
  const std::string dir = absl::GetFlag(FLAGS_spool_dir);
  const uint64_t total = absl::GetFlag(FLAGS_messages);
  const uint64_t domains = absl::GetFlag(FLAGS_domains);
  const uint32_t cores = absl::GetFlag(FLAGS_cores);
  std::vector<BigDomain> big;
  if (dir.empty() || domains == 0 || cores == 0 || absl::GetFlag(FLAGS_recipients) == 0 ||
      !ParseBig(absl::GetFlag(FLAGS_big), &big)) {
    std::fprintf(stderr, "spool-gen: bad flags (see --help)\n");
    return 2;
  }
  uint64_t big_total = 0;
  for (const BigDomain& b : big) big_total += b.count;
  if (big_total > total) {
    std::fprintf(stderr, "spool-gen: --big holds more than --messages\n");
    return 2;
  }
  if (absl::Status s = etrnd::spool::EnsureDirectory(dir); !s.ok()) {
    std::fprintf(stderr, "spool-gen: %s\n", s.ToString().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<SegmentAppender>> appenders;
  for (uint32_t core = 0; core < cores; ++core) {
    AppenderOptions options;
    options.spool_dir = dir;
    options.core = core;
    options.file_bytes_max = absl::GetFlag(FLAGS_segment_bytes_max);
    options.pending_bytes_max = 4 * kWriteBatchBytes;
    absl::StatusOr<std::unique_ptr<SegmentAppender>> appender = SegmentAppender::Open(options);
    if (!appender.ok()) {
      std::fprintf(stderr, "spool-gen: %s\n", appender.status().ToString().c_str());
      return 1;
    }
    appenders.push_back(std::move(*appender));
  }
  const absl::Time start = absl::Now();
  Generator generator(std::move(appenders), MakeBody(absl::GetFlag(FLAGS_body_bytes)));
  for (const BigDomain& b : big) {
    for (uint64_t i = 0; i < b.count; ++i) {
      if (!generator.Add(b.name)) return 1;
    }
  }
  const std::string parent = absl::GetFlag(FLAGS_parent);
  for (uint64_t i = 0; generator.written() < total; ++i) {
    const std::string domain = parent.empty() ? absl::StrFormat("d%d.test", i % domains)
                                              : absl::StrFormat("c%05d.%s", i % domains, parent);
    if (!generator.Add(domain)) return 1;
  }
  if (!generator.Finish()) return 1;
  if (absl::Status s = etrnd::spool::FsyncDirectory(dir); !s.ok()) {
    std::fprintf(stderr, "spool-gen: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("spool-gen: %lu messages (%lu in --big) over %lu domains, %u cores, in %s\n",
              generator.written(), big_total, domains, cores,
              absl::FormatDuration(absl::Now() - start).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Writes a spool directory of N queued messages (see the source).");
  absl::ParseCommandLine(argc, argv);
  return Run();
}
