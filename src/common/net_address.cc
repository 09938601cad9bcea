#include "etrnd/common/net_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "etrnd/common/strings.h"

namespace etrnd {

absl::StatusOr<IpAddress> IpAddress::Parse(std::string_view text) {
  std::string copy(text);
  IpAddress result;
  if (inet_pton(AF_INET, copy.c_str(), result.bytes_.data()) == 1) {
    result.family_ = AF_INET;
    return result;
  }
  if (inet_pton(AF_INET6, copy.c_str(), result.bytes_.data()) == 1) {
    result.family_ = AF_INET6;
    return result;
  }
  return absl::InvalidArgumentError(absl::StrCat("bad IP address '", AsAbsl(text), "'"));
}

IpAddress IpAddress::FromSockaddr(const sockaddr* addr) {
  IpAddress result;
  if (addr->sa_family == AF_INET) {
    result.family_ = AF_INET;
    std::memcpy(result.bytes_.data(), &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, 4);
  } else if (addr->sa_family == AF_INET6) {
    result.family_ = AF_INET6;
    std::memcpy(result.bytes_.data(), &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, 16);
  }
  return result;
}

IpAddress IpAddress::Unmapped() const {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!is_v6() || std::memcmp(bytes_.data(), kMappedPrefix, 12) != 0) return *this;
  IpAddress v4;
  v4.family_ = AF_INET;
  std::memcpy(v4.bytes_.data(), bytes_.data() + 12, 4);
  return v4;
}

std::string IpAddress::ToString() const {
  char buffer[INET6_ADDRSTRLEN] = {0};
  if (family_ == AF_UNSPEC) return "unknown";
  // What inet_ntop prints, without its sprintf (formatted for every message).
  if (family_ == AF_INET)
    return absl::StrCat(bytes_[0], ".", bytes_[1], ".", bytes_[2], ".", bytes_[3]);
  inet_ntop(family_, bytes_.data(), buffer, sizeof(buffer));
  return buffer;
}

absl::StatusOr<SocketAddress> SocketAddress::Parse(std::string_view text, int default_port) {
  std::string_view host = text;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("missing ']' in '", AsAbsl(text), "'"));
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(absl::StrCat("bad address '", AsAbsl(text), "'"));
      }
      port_text = rest.substr(1);
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon != std::string_view::npos) {
      host = text.substr(0, colon);
      port_text = text.substr(colon + 1);
    }
  }
  auto ip = IpAddress::Parse(host);
  if (!ip.ok()) return ip.status();
  if (!text.empty() && text.front() != '[' && ip->is_v6()) {
    return absl::InvalidArgumentError(
        absl::StrCat("IPv6 address must be in brackets: '", AsAbsl(text), "'"));
  }
  uint32_t port = 0;
  if (port_text.empty()) {
    if (default_port < 0) {
      return absl::InvalidArgumentError(absl::StrCat("missing port in '", AsAbsl(text), "'"));
    }
    port = static_cast<uint32_t>(default_port);
  } else if (!absl::SimpleAtoi(AsAbsl(port_text), &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in '", AsAbsl(text), "'"));
  }
  return SocketAddress(*ip, static_cast<uint16_t>(port));
}

SocketAddress SocketAddress::FromSockaddr(const sockaddr* addr) {
  uint16_t port = 0;
  if (addr->sa_family == AF_INET) {
    port = ntohs(reinterpret_cast<const sockaddr_in*>(addr)->sin_port);
  } else if (addr->sa_family == AF_INET6) {
    port = ntohs(reinterpret_cast<const sockaddr_in6*>(addr)->sin6_port);
  }
  return SocketAddress(IpAddress::FromSockaddr(addr), port);
}

socklen_t SocketAddress::ToSockaddr(sockaddr_storage* storage) const {
  std::memset(storage, 0, sizeof(*storage));
  if (ip_.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port_);
    std::memcpy(&in->sin_addr, ip_.bytes(), 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port_);
  std::memcpy(&in6->sin6_addr, ip_.bytes(), 16);
  return sizeof(sockaddr_in6);
}

std::string SocketAddress::ToString() const {
  if (ip_.is_v6()) return absl::StrCat("[", ip_.ToString(), "]:", port_);
  return absl::StrCat(ip_.ToString(), ":", port_);
}

absl::StatusOr<CidrNetwork> CidrNetwork::Parse(std::string_view text) {
  size_t slash = text.find('/');
  auto ip = IpAddress::Parse(text.substr(0, slash));
  if (!ip.ok()) return absl::InvalidArgumentError(absl::StrCat("bad CIDR '", AsAbsl(text), "'"));
  int max_bits = ip->is_v4() ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string_view::npos &&
      (!absl::SimpleAtoi(AsAbsl(text.substr(slash + 1)), &bits) || bits < 0 || bits > max_bits)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad CIDR prefix length in '", AsAbsl(text), "'"));
  }
  CidrNetwork network;
  network.network_ = *ip;
  network.prefix_bits_ = bits;
  return network;
}

bool CidrNetwork::Contains(const IpAddress& address) const {
  IpAddress candidate = network_.is_v4() ? address.Unmapped() : address;
  if (candidate.family() != network_.family()) return false;
  int full_bytes = prefix_bits_ / 8;
  if (std::memcmp(candidate.bytes(), network_.bytes(), full_bytes) != 0) return false;
  int rest_bits = prefix_bits_ % 8;
  if (rest_bits == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest_bits));
  return (candidate.bytes()[full_bytes] & mask) == (network_.bytes()[full_bytes] & mask);
}

CidrNetwork CidrNetwork::WithoutHostBits() const {
  CidrNetwork masked = *this;
  int total_bytes = static_cast<int>(network_.byte_count());
  for (int i = 0; i < total_bytes; ++i) {
    int bits_kept = std::clamp(prefix_bits_ - i * 8, 0, 8);
    uint8_t mask = bits_kept == 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits_kept));
    masked.network_.bytes_[i] &= mask;
  }
  return masked;
}

bool CidrNetwork::HasHostBits() const { return !(WithoutHostBits().network_ == network_); }

std::string CidrNetwork::ToString() const {
  return absl::StrCat(network_.ToString(), "/", prefix_bits_);
}

}  // namespace etrnd
