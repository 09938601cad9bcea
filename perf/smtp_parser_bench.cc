// Throughput of the inbound SMTP parsing path: the command line reader and
// the DATA decoder over a realistic pipelined transcript, and the whole
// server session on top of them.
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "etrnd/smtp/data_decoder.h"
#include "etrnd/smtp/line_reader.h"
#include "etrnd/smtp/server_session.h"

namespace etrnd::smtp {
namespace {

constexpr int kMessagesPerTranscript = 100;
constexpr int kRecipientsPerMessage = 3;
constexpr size_t kBodyBytes = 4096;

// Header block plus text lines of mixed length, some starting with a dot.
std::string StuffedBody() {
  std::string body =
      "From: alice@example.org\r\nTo: bob@example.com\r\nSubject: benchmark\r\n"
      "Message-ID: <1234@example.org>\r\nMIME-Version: 1.0\r\n\r\n";
  int line = 0;
  while (body.size() < kBodyBytes) {
    if (line % 17 == 0) body += "..a line that starts with a dot\r\n";
    body += std::string(20 + (line * 37) % 57, 'a' + line % 26) + "\r\n";
    ++line;
  }
  return body;
}

std::string PipelinedTranscript() {
  const std::string body = StuffedBody();
  std::string transcript = "EHLO client.example.org\r\n";
  for (int m = 0; m < kMessagesPerTranscript; ++m) {
    absl::StrAppend(&transcript, "MAIL FROM:<sender", m, "@example.org> SIZE=", body.size(),
                    " BODY=8BITMIME\r\n");
    for (int r = 0; r < kRecipientsPerMessage; ++r) {
      absl::StrAppend(&transcript, "RCPT TO:<user", r, "@d", m, ".example.com>\r\n");
    }
    absl::StrAppend(&transcript, "DATA\r\n", body, ".\r\n");
  }
  transcript += "QUIT\r\n";
  return transcript;
}

std::vector<std::string_view> Chunks(std::string_view text, size_t chunk_bytes) {
  std::vector<std::string_view> chunks;
  for (size_t i = 0; i < text.size(); i += chunk_bytes)
    chunks.push_back(text.substr(i, chunk_bytes));
  return chunks;
}

// The parser loop of the session, without the session: lines until DATA,
// then the decoder until the end of data.
void BM_LineReaderAndDataDecoder(benchmark::State& state) {
  const std::string transcript = PipelinedTranscript();
  const auto chunks = Chunks(transcript, static_cast<size_t>(state.range(0)));
  LineReader reader(512);
  DataDecoder decoder(10485760, 1000);
  std::string body;
  size_t lines = 0;
  for (auto _ : state) {
    bool in_data = false;
    for (std::string_view chunk : chunks) {
      while (!chunk.empty()) {
        size_t consumed = 0;
        if (in_data) {
          if (decoder.Consume(chunk, &consumed, &body) == DataDecoder::Result::kDone) {
            in_data = false;
            benchmark::DoNotOptimize(body.data());
            body.clear();
          }
        } else {
          Line line;
          if (reader.Parse(chunk, &consumed, &line) == LineReader::Result::kLine) {
            ++lines;
            if (line.text == "DATA") {
              in_data = true;
              decoder.Reset();
            }
          }
        }
        chunk.remove_prefix(consumed);
      }
    }
  }
  benchmark::DoNotOptimize(lines);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * transcript.size()));
  state.counters["messages/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kMessagesPerTranscript),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LineReaderAndDataDecoder)->Arg(1460)->Arg(16384)->Arg(65536);

void BM_LineReaderCommandsOnly(benchmark::State& state) {
  std::string commands;
  for (int i = 0; i < 1000; ++i) {
    absl::StrAppend(&commands, "RCPT TO:<user", i, "@customer", i, ".example.com>\r\n");
  }
  const auto chunks = Chunks(commands, static_cast<size_t>(state.range(0)));
  LineReader reader(512);
  size_t line_bytes = 0;
  for (auto _ : state) {
    for (std::string_view chunk : chunks) {
      while (!chunk.empty()) {
        size_t consumed = 0;
        Line line;
        if (reader.Parse(chunk, &consumed, &line) == LineReader::Result::kLine) {
          line_bytes += line.text.size();
        }
        chunk.remove_prefix(consumed);
      }
    }
  }
  benchmark::DoNotOptimize(line_bytes);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * commands.size()));
}
BENCHMARK(BM_LineReaderCommandsOnly)->Arg(1460)->Arg(16384);

// Stores at once, accepts every domain: measures the session itself.
class NullServices : public SessionServices {
 public:
  RecipientVerdict CheckRecipient(std::string_view) override { return RecipientVerdict::kAccept; }
  std::string NewQueueId() override { return "4Q1NjQ2MDAx"; }
  void StoreMessage(AcceptedMessage message) override {
    benchmark::DoNotOptimize(message.data.data());
    session->OnStoreResult(std::move(message.queue_id));
  }
  void StartEtrn(std::string_view) override {}
  ServerSession* session = nullptr;
};

void BM_ServerSessionTranscript(benchmark::State& state) {
  const std::string transcript = PipelinedTranscript();
  const auto chunks = Chunks(transcript, static_cast<size_t>(state.range(0)));
  SessionConfig config;
  config.hostname = "mx.example.net";
  const SocketAddress peer(IpAddress::Parse("192.0.2.1").value(), 40000);
  size_t output_bytes = 0;
  for (auto _ : state) {
    NullServices services;
    ServerSession session(config, services, peer);
    services.session = &session;
    session.Start();
    for (std::string_view chunk : chunks) {
      session.OnBytes(chunk);
      output_bytes += session.TakeOutput().size();
    }
    if (!session.close_requested()) state.SkipWithError("transcript did not end with QUIT");
  }
  benchmark::DoNotOptimize(output_bytes);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * transcript.size()));
  state.counters["messages/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kMessagesPerTranscript),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ServerSessionTranscript)->Arg(1460)->Arg(16384);

}  // namespace
}  // namespace etrnd::smtp

BENCHMARK_MAIN();
