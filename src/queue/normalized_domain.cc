#include "etrnd/queue/normalized_domain.h"

namespace etrnd::queue {

NormalizedDomain::NormalizedDomain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.size() > kDomainBytesMax) return;
  for (char c : domain) {
    buffer_[size_++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
}

}  // namespace etrnd::queue
