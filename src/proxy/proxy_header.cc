#include "etrnd/proxy/proxy_header.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/str_split.h"
#include "etrnd/common/check.h"
#include "etrnd/common/strings.h"

namespace etrnd::proxy {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);
constexpr std::string_view kUnknown = "UNKNOWN";
// v1 line: protocol, source, destination, source port, destination port.
constexpr size_t kV1Fields = 5;
constexpr size_t kV1PortDigitsMax = 5;

enum V2Command : uint8_t { kLocal = 0x0, kProxy = 0x1 };
enum V2Family : uint8_t { kUnspec = 0x0, kInet = 0x1, kInet6 = 0x2, kUnix = 0x3 };
enum V2Transport : uint8_t { kStream = 0x1, kTransportMax = 0x2 };
constexpr size_t kV2Inet4AddressBytes = 12;  // 2 x 4 address + 2 x 2 port
constexpr size_t kV2Inet6AddressBytes = 36;  // 2 x 16 address + 2 x 2 port

// True when the first min(in.size(), prefix.size()) bytes agree.
bool PrefixMatches(std::string_view in, std::string_view prefix) {
  size_t n = std::min(in.size(), prefix.size());
  return in.substr(0, n) == prefix.substr(0, n);
}

// Decimal 0..65535 without sign or leading zeros (the spec's form).
bool ParseV1Port(std::string_view text, uint16_t* port) {
  if (text.empty() || text.size() > kV1PortDigitsMax) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

// Address and port from a v2 address block, both in network order.
SocketAddress V2Address(int family, const uint8_t* address, const uint8_t* port) {
  sockaddr_storage storage{};
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    std::memcpy(&in->sin_addr, address, 4);
    std::memcpy(&in->sin_port, port, 2);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    std::memcpy(&in6->sin6_addr, address, 16);
    std::memcpy(&in6->sin6_port, port, 2);
  }
  return SocketAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&storage));
}

}  // namespace

ProxyHeaderParser::Result ProxyHeaderParser::Parse(std::string_view in, size_t* consumed,
                                                   ProxyHeader* out) {
  ETRND_CHECK(!finished_);
  *consumed = 0;
  size_t header_bytes = 0;
  if (buffer_.empty()) {
    // The common case: the whole header arrived in one read, parsed in place.
    Result result = ParseWhole(in, &header_bytes, out);
    if (result == Result::kDone) {
      ETRND_CHECK(header_bytes > 0 && header_bytes <= in.size());
      *consumed = header_bytes;
    } else if (result == Result::kNeedMore) {
      ETRND_CHECK(in.size() < kHeaderBytesMax);
      buffer_.assign(in);
      *consumed = in.size();
    }
    finished_ = result != Result::kNeedMore;
    return result;
  }
  const size_t old_bytes = buffer_.size();
  const size_t take = std::min(in.size(), kHeaderBytesMax - old_bytes);
  buffer_.append(in.substr(0, take));
  Result result = ParseWhole(buffer_, &header_bytes, out);
  if (result == Result::kDone) {
    // The buffered part alone was incomplete, so the header ends in `in`.
    ETRND_CHECK(header_bytes > old_bytes && header_bytes <= buffer_.size());
    *consumed = header_bytes - old_bytes;
  } else if (result == Result::kNeedMore) {
    // Never short of bytes at the bound: ParseWhole decides by then.
    ETRND_CHECK(buffer_.size() < kHeaderBytesMax && take == in.size());
    *consumed = take;
    return result;
  }
  buffer_.clear();
  buffer_.shrink_to_fit();
  finished_ = true;
  return result;
}

ProxyHeaderParser::Result ProxyHeaderParser::ParseWhole(std::string_view in, size_t* header_bytes,
                                                        ProxyHeader* out) {
  if (in.empty()) return Result::kNeedMore;
  if (in[0] == kV1Prefix[0]) {
    if (!PrefixMatches(in, kV1Prefix)) return Fail("not a PROXY header");
    if (in.size() < kV1Prefix.size()) return Result::kNeedMore;
    return ParseV1(in, header_bytes, out);
  }
  if (!PrefixMatches(in, kV2Signature)) return Fail("not a PROXY header");
  if (in.size() < kV2Signature.size()) return Result::kNeedMore;
  return ParseV2(in, header_bytes, out);
}

ProxyHeaderParser::Result ProxyHeaderParser::ParseV1(std::string_view in, size_t* header_bytes,
                                                     ProxyHeader* out) {
  size_t lf = in.substr(0, kV1HeaderBytesMax).find('\n');
  if (lf == std::string_view::npos) {
    if (in.size() >= kV1HeaderBytesMax) return Fail("v1 header longer than 107 octets");
    return Result::kNeedMore;
  }
  if (in[lf - 1] != '\r') return Fail("v1 header not ended by CRLF");
  std::string_view line = in.substr(kV1Prefix.size(), lf - 1 - kV1Prefix.size());
  if (line.find('\r') != std::string_view::npos) return Fail("v1 header has a bare CR");
  *header_bytes = lf + 1;
  if (line.substr(0, kUnknown.size()) == kUnknown &&
      (line.size() == kUnknown.size() || line[kUnknown.size()] == ' ')) {
    // The proxy could not tell (or chose not to): the rest is ignored.
    *out = ProxyHeader();
    out->version = 1;
    return Result::kDone;
  }
  std::vector<std::string_view> fields;
  for (absl::string_view field : absl::StrSplit(AsAbsl(line), ' ')) {
    fields.push_back(AsStd(field));
  }
  if (fields.size() != kV1Fields) return Fail("v1 header does not have 5 fields");
  int family = 0;
  if (fields[0] == "TCP4") {
    family = AF_INET;
  } else if (fields[0] == "TCP6") {
    family = AF_INET6;
  } else {
    return Fail("v1 protocol is not TCP4, TCP6 or UNKNOWN");
  }
  absl::StatusOr<IpAddress> source = IpAddress::Parse(fields[1]);
  absl::StatusOr<IpAddress> destination = IpAddress::Parse(fields[2]);
  if (!source.ok() || !destination.ok()) return Fail("v1 bad address");
  if (source->family() != family || destination->family() != family) {
    return Fail("v1 address family does not match the protocol");
  }
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  if (!ParseV1Port(fields[3], &source_port) || !ParseV1Port(fields[4], &destination_port)) {
    return Fail("v1 bad port");
  }
  *out = ProxyHeader();
  out->version = 1;
  out->has_addresses = true;
  out->source = SocketAddress(*source, source_port);
  out->destination = SocketAddress(*destination, destination_port);
  return Result::kDone;
}

ProxyHeaderParser::Result ProxyHeaderParser::ParseV2(std::string_view in, size_t* header_bytes,
                                                     ProxyHeader* out) {
  if (in.size() < kV2FixedBytes) return Result::kNeedMore;
  const auto* bytes = reinterpret_cast<const uint8_t*>(in.data());
  const uint8_t version = bytes[12] >> 4;
  const uint8_t command = bytes[12] & 0x0F;
  const uint8_t family = bytes[13] >> 4;
  const uint8_t transport = bytes[13] & 0x0F;
  const size_t length = (static_cast<size_t>(bytes[14]) << 8) | bytes[15];
  if (version != 2) return Fail("v2 version is not 2");
  if (command != kLocal && command != kProxy) return Fail("v2 command is not LOCAL or PROXY");
  if (kV2FixedBytes + length > kHeaderBytesMax) return Fail("v2 header longer than 536 octets");
  if (in.size() < kV2FixedBytes + length) return Result::kNeedMore;
  *header_bytes = kV2FixedBytes + length;
  *out = ProxyHeader();
  out->version = 2;
  // LOCAL: the proxy's own connection (health checks); the address block,
  // whatever it holds, is ignored, as the spec requires.
  if (command == kLocal) return Result::kDone;
  if (family > kUnix) return Fail("v2 unknown address family");
  if (transport > kTransportMax) return Fail("v2 unknown transport");
  // No IP address to take: keep the connection's own peer, like LOCAL.
  if (family == kUnspec || family == kUnix) return Result::kDone;
  if (transport != kStream) return Fail("v2 transport is not a stream");
  const size_t address_bytes = family == kInet ? kV2Inet4AddressBytes : kV2Inet6AddressBytes;
  if (length < address_bytes) return Fail("v2 address block too short");
  // TLVs after the address block are skipped: nothing here needs them.
  const uint8_t* block = bytes + kV2FixedBytes;
  const int socket_family = family == kInet ? AF_INET : AF_INET6;
  const size_t ip_bytes = family == kInet ? 4 : 16;
  out->has_addresses = true;
  out->source = V2Address(socket_family, block, block + 2 * ip_bytes);
  out->destination = V2Address(socket_family, block + ip_bytes, block + 2 * ip_bytes + 2);
  return Result::kDone;
}

ProxyHeaderParser::Result ProxyHeaderParser::Fail(std::string_view reason) {
  error_ = reason;
  return Result::kError;
}

}  // namespace etrnd::proxy
