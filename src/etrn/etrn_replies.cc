#include "etrnd/etrn/etrn_replies.h"

#include "absl/strings/str_cat.h"
#include "etrnd/common/strings.h"

namespace etrnd::etrn {

std::string ReplyNothingWaiting(std::string_view as_sent) {
  return absl::StrCat("251 2.0.0 OK, no messages waiting for node ", AsAbsl(as_sent));
}

std::string ReplyStarted(size_t count, std::string_view as_sent) {
  return absl::StrCat("253 2.0.0 OK, ", count, " pending messages for node ", AsAbsl(as_sent),
                      " started");
}

std::string ReplyForCount(size_t count, std::string_view as_sent) {
  return count == 0 ? ReplyNothingWaiting(as_sent) : ReplyStarted(count, as_sent);
}

std::string ReplyUnableToQueue(std::string_view as_sent) {
  return absl::StrCat("458 4.3.0 Unable to queue messages for node ", AsAbsl(as_sent));
}

std::string ReplyNotAllowed(std::string_view as_sent, std::string_view reason) {
  return absl::StrCat("459 4.7.1 Node ", AsAbsl(as_sent), " not allowed: ", AsAbsl(reason));
}

}  // namespace etrnd::etrn
