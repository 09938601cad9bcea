// libFuzzer harness: the one SMTP client against an arbitrary server.
// Byte 0 picks the options (pipelining, STARTTLS mode, AUTH, chunk size),
// the rest is what the server says; the session starts TLS whenever it asks
// to. However the server behaves, once the connection is gone every
// recipient has exactly one outcome and every message has ended.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "etrnd/smtp/client_session.h"

namespace {

using etrnd::smtp::ClientSession;
using etrnd::smtp::OutboundMessage;
using etrnd::smtp::RecipientOutcome;
using etrnd::smtp::TlsMode;

constexpr std::string_view kBody = "Subject: x\r\n\r\n.dot\r\nbody\n.\n";

void Drain(ClientSession& session, std::vector<std::vector<int>>* seen, std::vector<int>* ended) {
  session.TakeOutput();
  for (const RecipientOutcome& outcome : session.TakeOutcomes()) {
    if (outcome.token >= seen->size()) abort();
    if (outcome.recipient_index >= (*seen)[outcome.token].size()) abort();
    ++(*seen)[outcome.token][outcome.recipient_index];
  }
  for (const uint64_t token : session.TakeEndedMessages()) {
    if (token >= ended->size()) abort();
    ++(*ended)[token];
  }
  session.TakeCommandReplies();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t choice = data[0];
  ClientSession::Options options;
  options.helo_hostname = "fuzz.test";
  options.max_messages_per_connection = 3;
  options.use_pipelining = (choice & 1) != 0;
  options.tls = static_cast<TlsMode>((choice >> 1) % 3);
  if ((choice & 8) != 0) {
    options.auth_user = "u";
    options.auth_password = "p";
  }
  const size_t chunk_bytes = 1 + (choice >> 4) * 7;
  ClientSession session(options);
  const std::vector<std::vector<std::string>> recipients = {
      {"a@b.test", "c@d.test"}, {"e@f.test"}, {"g@h.test", "bad>@x", "i@j.test"}};
  std::vector<std::vector<int>> seen;
  for (size_t i = 0; i < recipients.size(); ++i) {
    if (!session.Enqueue(OutboundMessage{.token = i,
                                         .mail_from = i == 1 ? "" : "s@x.test",
                                         .recipients = recipients[i],
                                         .data = kBody})) {
      abort();
    }
    seen.emplace_back(recipients[i].size(), 0);
  }
  std::vector<int> ended(recipients.size(), 0);
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  while (!input.empty() && !session.done()) {
    session.OnBytes(input.substr(0, chunk_bytes));
    input.remove_prefix(std::min(chunk_bytes, input.size()));
    if (session.wants_tls_start()) session.OnTlsStarted();
    Drain(session, &seen, &ended);
  }
  session.OnConnectionLost();
  Drain(session, &seen, &ended);
  if (!session.done()) abort();
  for (const std::vector<int>& counts : seen) {
    for (const int count : counts) {
      if (count != 1) abort();
    }
  }
  for (const int count : ended) {
    if (count != 1) abort();
  }
  return 0;
}
