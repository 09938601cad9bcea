// CRAM-MD5 (RFC 2195) against Dovecot's stored form: `{CRAM-MD5}` and 64 hex
// digits, the HMAC-MD5 (RFC 2104) outer and inner MD5 states after their key
// blocks, as `doveadm pw -s CRAM-MD5` prints them. The server never needs the
// password: it finishes both hashes from those states. MD5 here is a small
// compression function of our own, since OpenSSL 3 deprecates setting an
// MD5 state (MD5_CTX).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace etrnd::auth {

// An MD5 chaining state (A, B, C, D) after whole 64-byte blocks.
using Md5State = std::array<uint32_t, 4>;

struct CramMd5Secret {
  Md5State inner;  // after (key XOR ipad)
  Md5State outer;  // after (key XOR opad)
};

inline constexpr std::string_view kCramMd5Prefix = "{CRAM-MD5}";
inline constexpr size_t kCramMd5HexDigits = 64;

// The 64 hex digits after the prefix; nullopt when malformed.
std::optional<CramMd5Secret> ParseCramMd5Secret(std::string_view hex);
// The stored form of a password (what doveadm prints, without the prefix);
// for tests and tools.
std::string CramMd5SecretHex(std::string_view password);

// HMAC-MD5(key, challenge) finished from the stored states, as 32 lowercase
// hex digits (the form the client sends after its user name).
std::string CramMd5DigestHex(const CramMd5Secret& secret, std::string_view challenge);

// MD5 of `message` continued from `state`, which has already taken
// `prefix_bytes` (a multiple of 64). The 16-byte digest.
std::array<uint8_t, 16> Md5Finish(Md5State state, uint64_t prefix_bytes, std::string_view message);

}  // namespace etrnd::auth
