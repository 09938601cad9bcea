// Checks completed SASL credentials against the password file. PLAIN and
// LOGIN run crypt(3) (yescrypt costs ~10+ ms of CPU), so this is called only
// on the CredentialVerifier's worker thread, never on a reactor thread.
// Comparisons are constant-time; an unknown user costs a crypt(3) like a
// known one, so timing does not tell which user names exist.
#pragma once

#include <crypt.h>

#include "etrnd/auth/password_file.h"
#include "etrnd/auth/sasl_exchange.h"

namespace etrnd::auth {

// crypt_rn's scratch space (~32 KiB): one per worker thread, reused.
struct CryptScratch {
  crypt_data data;
};

bool CheckCredentials(const PasswordFile& passwords, const SaslCredentials& credentials,
                      CryptScratch& scratch);

}  // namespace etrnd::auth
