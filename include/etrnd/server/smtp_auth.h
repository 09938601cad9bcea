// SMTP AUTH on a core, for the SMTP and ODMR connections alike: whether AUTH
// is offered to a client, and the credential check on the verifier's worker
// thread with its answer back on the asking core (Reactor::Post). Failures
// are logged (summarised per address: a guesser cannot flood the log) and
// recorded in every core's failure limiter (cross-core messages, no lock).
#pragma once

#include <functional>

#include "etrnd/auth/sasl_exchange.h"
#include "etrnd/common/net_address.h"
#include "etrnd/smtp/auth_command.h"

namespace etrnd::server {

class Core;

// SPEC 5: with an --auth_file, under TLS or to a loopback client only (a
// password must never cross a network in clear).
smtp::AuthOffer OfferAuth(const Core& core, const IpAddress& client, bool tls_active);

// Whether AUTH from client is refused (454) after too many failures; counted
// and logged (summarised) when it is.
bool AuthLockedOut(Core& core, const IpAddress& client);

// done runs later on core's thread (never inside this call): kValid,
// kInvalid, or kTemporaryFailure when the verifier's queue is full.
void StartAuthVerification(Core& core, const IpAddress& client, auth::SaslCredentials credentials,
                           std::function<void(smtp::AuthVerdict)> done);

}  // namespace etrnd::server
