#include "openssl_errors.h"

#include <openssl/err.h>

namespace etrnd::transport {

// Bounds the message when a broken input piles up errors.
constexpr int kMaxReportedErrors = 4;

std::string DrainOpenSslErrors() {
  std::string text;
  int reported = 0;
  while (unsigned long code = ERR_get_error()) {
    if (reported++ >= kMaxReportedErrors) continue;
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    if (!text.empty()) text += "; ";
    // "error:0A000086:SSL routines::certificate verify failed": the reason is
    // what an operator needs; keep the code for searching.
    text += buffer;
  }
  return text;
}

}  // namespace etrnd::transport
