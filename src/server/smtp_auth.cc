#include "etrnd/server/smtp_auth.h"

#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/common/strings.h"
#include "etrnd/server/core.h"

namespace etrnd::server {
namespace {

// A user name as the client sent it is logged escaped and cut to this.
constexpr size_t kLoggedUserOctetsMax = 64;

bool IsLoopback(const IpAddress& address) {
  static const CidrNetwork kLoopbackV4 = *CidrNetwork::Parse("127.0.0.0/8");
  static const CidrNetwork kLoopbackV6 = *CidrNetwork::Parse("::1/128");
  const IpAddress plain = address.Unmapped();
  return kLoopbackV4.Contains(plain) || kLoopbackV6.Contains(plain);
}

std::string LoggableUser(std::string_view user) {
  return absl::CHexEscape(AsAbsl(user.substr(0, kLoggedUserOctetsMax)));
}

// On the asking core, with the worker's answer.
void Finish(Core& core, const IpAddress& client, const std::string& user,
            std::string_view mechanism, bool valid,
            const std::function<void(smtp::AuthVerdict)>& done) {
  const std::string client_text = client.ToString();
  if (valid) {
    ++core.metrics().auth_ok;
    ETRND_LOG_INFO_EVENT(
        "auth", {{"client", client_text}, {"user", LoggableUser(user)}, {"result", "ok"}},
        "AUTH %s from %s: user %s authenticated", mechanism, client_text, LoggableUser(user));
    done(smtp::AuthVerdict::kValid);
    return;
  }
  ETRND_LOG_WARNING_REPEATED("AUTH failed", client_text, "AUTH %s from %s failed for user %s",
                             mechanism, client_text, LoggableUser(user));
  ++core.metrics().auth_failed;
  const absl::Time now = absl::Now();
  ServerContext& context = core.context();
  for (size_t i = 0; i < context.core_count(); ++i) {
    Core* target = &context.core(i);
    if (target == &core) {
      core.auth_limiter().RecordFailure(client, now);
    } else {
      core.SendTo(*target,
                  [target, client, now] { target->auth_limiter().RecordFailure(client, now); });
    }
  }
  done(smtp::AuthVerdict::kInvalid);
}

}  // namespace

bool AuthLockedOut(Core& core, const IpAddress& client) {
  if (!core.auth_limiter().Locked(client, absl::Now())) return false;
  ++core.metrics().auth_locked_out;
  ETRND_LOG_INFO_REPEATED("AUTH locked out", client.ToString(),
                          "AUTH from %s: too many failures, 454", client.ToString());
  return true;
}

smtp::AuthOffer OfferAuth(const Core& core, const IpAddress& client, bool tls_active) {
  const auth::PasswordFile* passwords = core.passwords().get();
  if (passwords == nullptr || (!tls_active && !IsLoopback(client))) return {};
  return smtp::AuthOffer{.offered = true, .cram_md5 = passwords->has_cram_md5()};
}

void StartAuthVerification(Core& core, const IpAddress& client, auth::SaslCredentials credentials,
                           std::function<void(smtp::AuthVerdict)> done) {
  Core* origin = &core;
  auth::CredentialVerifier* verifier = core.context().verifier.get();
  std::shared_ptr<const auth::PasswordFile> passwords = core.passwords();
  std::string user = credentials.user;
  const std::string_view mechanism = auth::SaslMechanismName(credentials.mechanism);
  auto shared_done = std::make_shared<std::function<void(smtp::AuthVerdict)>>(std::move(done));
  if (verifier != nullptr && passwords != nullptr) {
    const bool queued = verifier->Submit(
        std::move(passwords), std::move(credentials),
        [origin, client, user, mechanism, shared_done](bool valid) {
          // On the verifier's thread: hop back to the session's core.
          origin->reactor().Post([origin, client, user, mechanism, shared_done, valid] {
            Finish(*origin, client, user, mechanism, valid, *shared_done);
          });
        });
    if (queued) return;
  }
  ETRND_LOG_WARNING_REPEATED("AUTH verifier busy", client.ToString(),
                             "AUTH from %s: verifier queue full (%d), 454", client.ToString(),
                             auth::kVerifyQueueDepthMax);
  ++core.metrics().auth_busy;
  // Next turn, not inside the session's own call.
  origin->reactor().Post([shared_done] { (*shared_done)(smtp::AuthVerdict::kTemporaryFailure); });
}

}  // namespace etrnd::server
