// The argument of the ETRN command (RFC 1985): "node", "@domain" or "#queue".
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "etrnd/common/protocol_limits.h"

namespace etrnd::etrn {

// RFC 1985 and SPEC section 6: a node name is at most 255 octets.
inline constexpr size_t kEtrnNodeOctetsMax = kDomainOctetsMax;

enum class EtrnForm {
  kNode,     // ETRN example.com: the one domain
  kSubtree,  // ETRN @example.com: the domain and its subdomains
  kQueue,    // ETRN #dialup: a named queue of the domains table
};

struct EtrnArgument {
  EtrnForm form = EtrnForm::kNode;
  std::string name;     // lowercase domain (no trailing dot) or queue name
  std::string as_sent;  // the argument exactly as the client sent it, for replies
};

inline constexpr std::string_view kReplySyntax = "501 5.5.4 Syntax: ETRN [@|#]node";

// Syntax only, no table. On error the status message is the whole 501 reply
// line (no CRLF), ready to send; it never echoes client bytes. A node needs a
// dot (fully qualified); "@domain" may be a single label ("@com") so that the
// breadth rule answers it with 459 rather than a syntax error.
absl::StatusOr<EtrnArgument> ParseEtrnArgument(std::string_view argument);

}  // namespace etrnd::etrn
