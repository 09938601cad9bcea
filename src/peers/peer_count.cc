#include "etrnd/peers/peer_count.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "etrnd/common/strings.h"
#include "etrnd/etrn/etrn_replies.h"

namespace etrnd::peers {
namespace {

constexpr int kEtrnStarted = 253;
// Digits of a count we believe (kPeerCountMax has 13).
constexpr size_t kCountDigitsMax = 15;

// Skips an RFC 3463 enhanced code ("2.0.0 ") when there is one.
std::string_view SkipEnhancedCode(std::string_view text) {
  size_t space = text.find(' ');
  if (space == std::string_view::npos) return text;
  std::string_view first = text.substr(0, space);
  if (!first.empty() && first[0] == '2' && absl::StrContains(AsAbsl(first), '.')) {
    return text.substr(space + 1);
  }
  return text;
}

}  // namespace

size_t PeerReplyCount(const smtp::SmtpReply& reply) {
  if (reply.code != kEtrnStarted || reply.lines.empty()) return 0;
  std::string_view text = SkipEnhancedCode(reply.lines.back());
  constexpr std::string_view kOk = "OK, ";
  if (!absl::StartsWithIgnoreCase(AsAbsl(text), AsAbsl(kOk))) return 0;
  text.remove_prefix(kOk.size());
  size_t digits = 0;
  while (digits < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  if (digits == 0 || digits > kCountDigitsMax) return 0;
  if (!absl::StartsWith(AsAbsl(text.substr(digits)), " ")) return 0;
  uint64_t count = 0;
  if (!absl::SimpleAtoi(AsAbsl(text.substr(0, digits)), &count)) return 0;
  return static_cast<size_t>(std::min<uint64_t>(count, kPeerCountMax));
}

std::string CombinedReply(const CombinedCount& count, std::string_view as_sent) {
  const size_t total = count.local_messages + std::min(count.peer_messages, kPeerCountMax);
  if (total > 0) return etrn::ReplyStarted(total, as_sent);
  if (count.local_refused_for_resources) return etrn::ReplyUnableToQueue(as_sent);
  return etrn::ReplyNothingWaiting(as_sent);
}

}  // namespace etrnd::peers
