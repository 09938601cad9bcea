#include "etrnd/server/tls_contexts.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "etrnd/common/log.h"
#include "etrnd/server/core.h"
#include "etrnd/server/server_context.h"

namespace etrnd::server {

absl::StatusOr<std::shared_ptr<const TlsContexts>> LoadTlsContexts(const TlsOptions& options) {
  auto contexts = std::make_shared<TlsContexts>();
  if (!options.cert_file.empty()) {
    auto server = transport::TlsContext::NewServer(
        {.cert_file = options.cert_file, .key_file = options.key_file, .ciphers = options.ciphers});
    if (!server.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls_cert/--tls_key: ", server.status().message()));
    }
    contexts->server = std::move(*server);
  }
  auto client = transport::TlsContext::NewClient({.verify = false});
  if (!client.ok()) return client.status();
  contexts->client = std::move(*client);
  auto verify = transport::TlsContext::NewClient({.ca_file = options.ca_file, .verify = true});
  if (!verify.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--tls_ca_file: ", verify.status().message()));
  }
  contexts->client_verify = std::move(*verify);
  return std::shared_ptr<const TlsContexts>(std::move(contexts));
}

void ReloadTlsContexts(ServerContext& context, std::string_view why) {
  absl::StatusOr<std::shared_ptr<const TlsContexts>> contexts =
      LoadTlsContexts(context.options.tls);
  if (!contexts.ok()) {
    ETRND_LOG_ERROR("%s: TLS reload failed, previous certificate stays in force: %s", why,
                    std::string(contexts.status().message()));
    return;
  }
  if ((*contexts)->server != nullptr) {
    ETRND_LOG_INFO("%s: TLS reloaded: %s", why, (*contexts)->server->description());
  }
  for (auto& core : context.cores) {
    Core* target = core.get();
    std::shared_ptr<const TlsContexts> snapshot = *contexts;
    target->reactor().Post([target, snapshot] { target->SetTls(snapshot); });
  }
}

}  // namespace etrnd::server
