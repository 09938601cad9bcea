// IPv4/IPv6 addresses, socket addresses and CIDR networks, parsed from the
// forms operators write ("127.0.0.1:2525", "[::1]:25", "10.0.0.0/8").
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace etrnd {

class IpAddress {
 public:
  IpAddress() = default;
  static absl::StatusOr<IpAddress> Parse(std::string_view text);  // no brackets
  static IpAddress FromSockaddr(const sockaddr* addr);

  bool is_v4() const { return family_ == AF_INET; }
  bool is_v6() const { return family_ == AF_INET6; }
  int family() const { return family_; }
  // 4 bytes for IPv4, 16 for IPv6, network order.
  const uint8_t* bytes() const { return bytes_.data(); }
  size_t byte_count() const { return is_v4() ? 4 : 16; }
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as plain IPv4; else itself.
  IpAddress Unmapped() const;
  std::string ToString() const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.family_ == b.family_ && a.bytes_ == b.bytes_;
  }
  template <typename H>
  friend H AbslHashValue(H h, const IpAddress& a) {
    return H::combine(std::move(h), a.family_, a.bytes_);
  }

 private:
  friend class CidrNetwork;  // masks host bits in place

  int family_ = AF_UNSPEC;
  std::array<uint8_t, 16> bytes_{};
};

class SocketAddress {
 public:
  SocketAddress() = default;
  SocketAddress(IpAddress ip, uint16_t port) : ip_(ip), port_(port) {}
  // "a.b.c.d:port", "[v6]:port"; with default_port, "a.b.c.d" and "[v6]" too.
  static absl::StatusOr<SocketAddress> Parse(std::string_view text, int default_port = -1);
  static SocketAddress FromSockaddr(const sockaddr* addr);

  const IpAddress& ip() const { return ip_; }
  uint16_t port() const { return port_; }
  // Fills storage; returns the length to pass to bind/connect.
  socklen_t ToSockaddr(sockaddr_storage* storage) const;
  std::string ToString() const;  // "1.2.3.4:25" or "[::1]:25"

 private:
  IpAddress ip_;
  uint16_t port_ = 0;
};

class CidrNetwork {
 public:
  // "10.0.0.0/8", "2001:db8::/32", or a bare address (full-length prefix).
  static absl::StatusOr<CidrNetwork> Parse(std::string_view text);
  // IPv4-mapped IPv6 clients match IPv4 networks.
  bool Contains(const IpAddress& address) const;
  // Some bit after the prefix is set ("10.0.0.1/8"): not a network address.
  bool HasHostBits() const;
  // The same network with its host bits cleared ("10.0.0.1/8" -> "10.0.0.0/8").
  CidrNetwork WithoutHostBits() const;
  std::string ToString() const;

 private:
  IpAddress network_;
  int prefix_bits_ = 0;
};

}  // namespace etrnd
