// libFuzzer harness: the whole server session. Input byte 0 picks the chunk
// size; results of stores and ETRNs are answered after every chunk, the way
// the glue does. Replies must always be whole CRLF-terminated lines with a
// three-digit code, and nothing is said after a close.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "etrnd/smtp/server_session.h"

namespace {

using etrnd::smtp::AcceptedMessage;
using etrnd::smtp::RecipientVerdict;

class FuzzServices : public etrnd::smtp::SessionServices {
 public:
  RecipientVerdict CheckRecipient(std::string_view domain) override {
    return domain.size() % 2 == 0 ? RecipientVerdict::kAccept : RecipientVerdict::kRelayDenied;
  }
  std::string NewQueueId() override { return "Q" + std::to_string(++ids_); }
  void StoreMessage(AcceptedMessage message) override {
    if (message.recipients.empty()) abort();
    last_queue_id = message.queue_id;
    etrn_pending = false;
    auth_pending = false;
  }
  void StartEtrn(std::string_view argument) override {
    if (argument.empty()) abort();
    etrn_pending = true;
    auth_pending = false;
  }
  // SMTP AUTH is offered when the input's first byte says so.
  etrnd::smtp::AuthOffer AuthOffered() override { return auth_offer; }
  void VerifyCredentials(etrnd::auth::SaslCredentials) override {
    if (!auth_offer.offered) abort();
    auth_pending = true;
    etrn_pending = false;
  }
  absl::Time Now() override { return absl::FromUnixSeconds(0); }

  std::string last_queue_id;
  bool etrn_pending = false;
  bool auth_pending = false;
  etrnd::smtp::AuthOffer auth_offer;

 private:
  int ids_ = 0;
};

void CheckReplies(std::string_view output) {
  while (!output.empty()) {
    const size_t end = output.find("\r\n");
    if (end == std::string_view::npos || end < 4) abort();
    for (int i = 0; i < 3; ++i) {
      if (output[i] < '0' || output[i] > '9') abort();
    }
    if (output[3] != ' ' && output[3] != '-') abort();
    output.remove_prefix(end + 2);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t chunk_bytes = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  etrnd::smtp::SessionConfig config;
  config.hostname = "fuzz.test";
  config.limits.max_message_bytes = 2048;
  config.limits.max_recipients = 4;
  config.limits.max_errors = 50;
  FuzzServices services;
  services.auth_offer = {.offered = (data[0] & 64) != 0, .cram_md5 = (data[0] & 128) != 0};
  etrnd::smtp::ServerSession session(
      config, services, etrnd::SocketAddress(etrnd::IpAddress::Parse("192.0.2.1").value(), 25));
  session.Start();
  CheckReplies(session.TakeOutput());
  int answers = 0;
  while (!input.empty()) {
    const bool was_closed = session.close_requested();
    session.OnBytes(input.substr(0, chunk_bytes));
    input.remove_prefix(std::min(chunk_bytes, input.size()));
    while (session.waiting() && answers++ < 10000) {
      if (services.auth_pending) {
        session.OnAuthResult(answers % 2 == 0 ? etrnd::smtp::AuthVerdict::kValid
                                              : etrnd::smtp::AuthVerdict::kInvalid);
      } else if (services.etrn_pending) {
        session.OnEtrnResult("251 2.0.0 OK, no messages waiting for node x");
      } else if (answers % 3 == 0) {
        session.OnStoreResult(absl::ResourceExhaustedError("full"));
      } else {
        session.OnStoreResult(services.last_queue_id);
      }
    }
    const std::string output = session.TakeOutput();
    if (was_closed && !output.empty()) abort();
    CheckReplies(output);
  }
  return 0;
}
