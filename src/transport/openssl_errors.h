// OpenSSL's thread-local error queue as one readable string. Every caller
// clears the queue before an operation and drains it after, so an error of
// one connection never shows up in another's message on the same thread.
#pragma once

#include <string>

namespace etrnd::transport {

// "reason; reason" for every queued error (oldest first); empties the queue.
// "" when nothing was queued.
std::string DrainOpenSslErrors();

}  // namespace etrnd::transport
