// The exact ETRN reply lines of SPEC section 6 (without CRLF). `as_sent` is
// the argument as the client sent it, "@" or "#" included; it has passed
// ParseEtrnArgument, so it holds only name characters.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace etrnd::etrn {

// "251 2.0.0 OK, no messages waiting for node <x>"
std::string ReplyNothingWaiting(std::string_view as_sent);
// "253 2.0.0 OK, <n> pending messages for node <x> started"
std::string ReplyStarted(size_t count, std::string_view as_sent);
// 251 when count is 0, else 253.
std::string ReplyForCount(size_t count, std::string_view as_sent);
// "458 4.3.0 Unable to queue messages for node <x>"
std::string ReplyUnableToQueue(std::string_view as_sent);
// "459 4.7.1 Node <x> not allowed: <reason>"
std::string ReplyNotAllowed(std::string_view as_sent, std::string_view reason);

}  // namespace etrnd::etrn
