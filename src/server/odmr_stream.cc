#include "etrnd/server/odmr_stream.h"

#include <utility>

#include "etrnd/common/strings.h"

namespace etrnd::server {
namespace {

// What one Receive found, in OdmrStream's (status, plaintext) form.
class Collected : public transport::TlsPumpListener {
 public:
  Collected(std::string* plaintext, bool* established)
      : plaintext_(plaintext), established_(established) {}
  void OnTlsStarted() override { *established_ = true; }
  void OnPlaintext(std::string_view bytes) override { plaintext_->append(bytes); }
  void OnTlsFailed(std::string_view why) override { status = absl::UnavailableError(AsAbsl(why)); }
  void OnTlsEnded(std::string_view error) override {
    status = error.empty() ? absl::CancelledError("peer sent close_notify")
                           : absl::UnavailableError(AsAbsl(error));
  }

  absl::Status status;

 private:
  std::string* plaintext_;
  bool* established_;
};

}  // namespace

OdmrStream::OdmrStream(reactor::Connection& conn)
    : conn_(&conn), pump_([this](std::string bytes) { conn_->Send(std::move(bytes)); }) {}

absl::Status OdmrStream::Receive(std::string_view bytes, std::string* plaintext,
                                 bool* established) {
  *established = false;
  plaintext->clear();
  Collected collected(plaintext, established);
  pump_.Receive(bytes, collected);
  return collected.status;
}

void OdmrStream::Close() {
  pump_.Shutdown();
  conn_->Close();
}

}  // namespace etrnd::server
