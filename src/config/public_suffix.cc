#include "etrnd/config/public_suffix.h"

#include <libpsl.h>

#include <string>

namespace etrnd::config {
namespace {

const psl_ctx_t* PublicSuffixList() {
  // psl_latest() picks the newer of the system's list and the built-in one;
  // without a readable system list it can fail, then the built-in one stays.
  static const psl_ctx_t* const list = [] {
    const psl_ctx_t* latest = psl_latest(nullptr);
    return latest != nullptr ? latest : psl_builtin();
  }();
  return list;
}

}  // namespace

bool IsPublicSuffix(std::string_view domain) {
  const psl_ctx_t* list = PublicSuffixList();
  if (list == nullptr || domain.empty()) return false;
  std::string terminated(domain);  // libpsl wants a C string
  return psl_is_public_suffix2(list, terminated.c_str(), PSL_TYPE_ICANN | PSL_TYPE_NO_STAR_RULE) !=
         0;
}

}  // namespace etrnd::config
