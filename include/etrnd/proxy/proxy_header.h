// The HAProxy PROXY protocol header (v1 text, v2 binary) that a load
// balancer sends before the client's first byte, telling the client's real
// address. This folder is pure: it parses bytes and never does I/O; the
// server glue decides who may send a header and what to do with it.
//
// Spec: https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "etrnd/common/net_address.h"

namespace etrnd::proxy {

// v1: "PROXY TCP6 <src> <dst> <sport> <dport>\r\n" is at most 107 octets.
inline constexpr size_t kV1HeaderBytesMax = 107;
// v2: 12-octet signature, version/command, family/transport, 2-octet length.
inline constexpr size_t kV2FixedBytes = 16;
// The largest address block (AF_UNIX: two 108-octet paths).
inline constexpr size_t kV2AddressBytesMax = 216;
// Room for TLVs (skipped) after the largest address block.
inline constexpr size_t kV2TlvBytesMax = 304;
// Every header this parser accepts fits in this many octets; a longer one
// is an error, so a peer can never make us buffer more.
inline constexpr size_t kHeaderBytesMax = kV2FixedBytes + kV2AddressBytesMax + kV2TlvBytesMax;
static_assert(kHeaderBytesMax == 536);
static_assert(kV1HeaderBytesMax < kHeaderBytesMax);

struct ProxyHeader {
  int version = 0;  // 1 or 2
  // False for v2 LOCAL, v1 UNKNOWN and v2 AF_UNSPEC/AF_UNIX: the connection's
  // own peer address stands. True: source/destination are the client's.
  bool has_addresses = false;
  SocketAddress source;
  SocketAddress destination;
};

// Dragonfly-style incremental parser: feed the connection's first bytes in
// any split; it keeps a partial header in a buffer of at most
// kHeaderBytesMax octets.
class ProxyHeaderParser {
 public:
  enum class Result {
    kNeedMore,  // all of `in` consumed (buffered); no complete header yet
    kDone,      // *out holds the header; bytes after *consumed are the protocol's
    kError,     // not a valid header; error() says why
  };

  // Consumes the header's octets from `in` (*consumed of them). After
  // kDone or kError the parser must not be fed again.
  Result Parse(std::string_view in, size_t* consumed, ProxyHeader* out);

  // Why the last Parse() returned kError (a fixed phrase for logs).
  std::string_view error() const { return error_; }
  size_t buffered_bytes() const { return buffer_.size(); }

 private:
  // Parses a header that starts at in[0]; *header_bytes is its full length.
  Result ParseWhole(std::string_view in, size_t* header_bytes, ProxyHeader* out);
  Result ParseV1(std::string_view in, size_t* header_bytes, ProxyHeader* out);
  Result ParseV2(std::string_view in, size_t* header_bytes, ProxyHeader* out);
  Result Fail(std::string_view reason);

  std::string buffer_;  // a header split across inputs; never over kHeaderBytesMax
  std::string_view error_;
  bool finished_ = false;
};

}  // namespace etrnd::proxy
