// The pure per-message work of ingest, for one 1 KiB message as a pipelining
// client sends it (MAIL, RCPT and DATA in one read, the body in the next):
// the session's commands and replies, the DATA decoder, the Received:
// header, and the store into a segment batch (record encoding, CRC), with a
// batch taken every kMessagesPerBatch messages as the group committer does.
// No I/O: the batches are marked durable without being written.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "etrnd/smtp/server_session.h"
#include "etrnd/spool/segment_appender.h"

namespace etrnd::smtp {
namespace {

constexpr size_t kBodyBytes = 1024;
constexpr int kMessagesPerBatch = 8;  // about what fsync=true batches hold

// What smtp-blaster sends: a few header fields, then 76-octet text lines.
std::string Body() {
  std::string body =
      "From: blaster@blaster.test\r\nTo: user@d1.test\r\nSubject: ingest benchmark\r\n"
      "Message-ID: <1234@blaster.test>\r\n\r\n";
  while (body.size() + 78 <= kBodyBytes) body += std::string(76, 'x') + "\r\n";
  return body;
}

// Stores into a real segment appender (a file in a temp dir that is never
// written) and answers at once.
class SpoolingServices : public SessionServices {
 public:
  explicit SpoolingServices(const std::string& dir) {
    spool::AppenderOptions options;
    options.spool_dir = dir;
    options.file_bytes_max = spool::kFileBytesMaxLimit;  // no roll in a run
    options.pending_bytes_max = ~0ull;
    appender_ = std::move(*spool::SegmentAppender::Open(options));
  }
  RecipientVerdict CheckRecipient(std::string_view) override { return RecipientVerdict::kAccept; }
  std::string NewQueueId() override { return "18D2F6A3B1C0400A"; }
  void StoreMessage(AcceptedMessage message) override {
    spool::SpoolMessage spooled;
    spooled.queue_id = std::move(message.queue_id);
    spooled.arrival_unix_micros = absl::ToUnixMicros(absl::Now());
    spooled.mail_from = std::move(message.mail_from);
    spooled.recipients = std::move(message.recipients);
    spooled.data = std::move(message.data);
    if (!appender_->Append(spooled).ok()) std::abort();
    if (++appended_ % kMessagesPerBatch == 0) {
      std::optional<spool::SpoolBatch> batch = appender_->TakeBatch();
      benchmark::DoNotOptimize(batch->bytes.data());
      appender_->BatchDurable(*batch);
    }
    session->OnStoreResult(std::move(spooled.queue_id));
  }
  void StartEtrn(std::string_view) override {}
  ServerSession* session = nullptr;

 private:
  std::unique_ptr<spool::SegmentAppender> appender_;
  uint64_t appended_ = 0;
};

void BM_IngestOneKibMessage(benchmark::State& state) {
  std::error_code error;
  const std::string dir =
      (std::filesystem::temp_directory_path() / absl::StrCat("etrnd-bench-", getpid())).string();
  std::filesystem::create_directories(dir);
  {
    const std::string commands =
        "MAIL FROM:<blaster@blaster.test>\r\nRCPT TO:<user@d1.test>\r\nDATA\r\n";
    const std::string body = Body() + ".\r\n";
    SessionConfig config;
    config.hostname = "mx.example.net";
    const SocketAddress peer(IpAddress::Parse("192.0.2.1").value(), 40000);
    SpoolingServices services(dir);
    ServerSession session(config, services, peer);
    services.session = &session;
    session.Start();
    session.OnBytes("EHLO blaster.invalid\r\n");
    session.TakeOutput();
    size_t output_bytes = 0;
    for (auto _ : state) {
      session.OnBytes(commands);
      output_bytes += session.TakeOutput().size();  // 250, 250, 354
      session.OnBytes(body);
      output_bytes += session.TakeOutput().size();  // 250 queued as
    }
    benchmark::DoNotOptimize(output_bytes);
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  }
  std::filesystem::remove_all(dir, error);
}
BENCHMARK(BM_IngestOneKibMessage);

}  // namespace
}  // namespace etrnd::smtp

BENCHMARK_MAIN();
