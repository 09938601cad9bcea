#include "etrnd/auth/cram_md5.h"

#include <cstring>

#include "etrnd/common/check.h"

namespace etrnd::auth {
namespace {

constexpr size_t kBlockBytes = 64;
constexpr Md5State kMd5Initial = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};

constexpr uint32_t kSine[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
constexpr int kShift[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                            5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                            4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                            6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

uint32_t RotateLeft(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

uint32_t LoadLittle32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// RFC 1321 section 3.4: one 64-byte block into the chaining state.
void Compress(Md5State& state, const uint8_t* block) {
  uint32_t m[16];
  for (int i = 0; i < 16; ++i) m[i] = LoadLittle32(block + 4 * i);
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  for (int i = 0; i < 64; ++i) {
    uint32_t f;
    int g;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) % 16;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) % 16;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) % 16;
    }
    const uint32_t rotated = RotateLeft(a + f + kSine[i] + m[g], kShift[i]);
    a = d;
    d = c;
    c = b;
    b = b + rotated;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char kHexDigits[] = "0123456789abcdef";

// Dovecot stores each state word little-endian (its CDPUT macro).
void AppendStateHex(const Md5State& state, std::string* out) {
  for (uint32_t word : state) {
    for (int byte = 0; byte < 4; ++byte) {
      const uint8_t v = static_cast<uint8_t>(word >> (8 * byte));
      out->push_back(kHexDigits[v >> 4]);
      out->push_back(kHexDigits[v & 15]);
    }
  }
}

// The states after the HMAC key blocks (RFC 2104: keys over 64 bytes are
// hashed first).
CramMd5Secret SecretFromPassword(std::string_view password) {
  uint8_t key[kBlockBytes] = {};
  if (password.size() > kBlockBytes) {
    const std::array<uint8_t, 16> digest = Md5Finish(kMd5Initial, 0, password);
    std::memcpy(key, digest.data(), digest.size());
  } else {
    std::memcpy(key, password.data(), password.size());
  }
  uint8_t inner_block[kBlockBytes];
  uint8_t outer_block[kBlockBytes];
  for (size_t i = 0; i < kBlockBytes; ++i) {
    inner_block[i] = key[i] ^ 0x36;
    outer_block[i] = key[i] ^ 0x5c;
  }
  CramMd5Secret secret{kMd5Initial, kMd5Initial};
  Compress(secret.inner, inner_block);
  Compress(secret.outer, outer_block);
  return secret;
}

}  // namespace

std::array<uint8_t, 16> Md5Finish(Md5State state, uint64_t prefix_bytes, std::string_view message) {
  ETRND_CHECK(prefix_bytes % kBlockBytes == 0);
  const auto* bytes = reinterpret_cast<const uint8_t*>(message.data());
  size_t left = message.size();
  while (left >= kBlockBytes) {
    Compress(state, bytes);
    bytes += kBlockBytes;
    left -= kBlockBytes;
  }
  // Padding: 0x80, zeros, then the bit length little-endian (RFC 1321 3.1).
  uint8_t tail[2 * kBlockBytes] = {};
  std::memcpy(tail, bytes, left);
  tail[left] = 0x80;
  const size_t tail_bytes = left + 1 + 8 <= kBlockBytes ? kBlockBytes : 2 * kBlockBytes;
  const uint64_t bits = (prefix_bytes + message.size()) * 8;
  for (int i = 0; i < 8; ++i) tail[tail_bytes - 8 + i] = static_cast<uint8_t>(bits >> (8 * i));
  for (size_t at = 0; at < tail_bytes; at += kBlockBytes) Compress(state, tail + at);
  std::array<uint8_t, 16> digest;
  for (int i = 0; i < 4; ++i) {
    for (int byte = 0; byte < 4; ++byte) {
      digest[4 * i + byte] = static_cast<uint8_t>(state[i] >> (8 * byte));
    }
  }
  return digest;
}

std::optional<CramMd5Secret> ParseCramMd5Secret(std::string_view hex) {
  if (hex.size() != kCramMd5HexDigits) return std::nullopt;
  uint32_t words[8] = {};
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int high = HexValue(hex[i]);
    const int low = HexValue(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    const size_t byte = i / 2;
    words[byte / 4] |= static_cast<uint32_t>(high << 4 | low) << (8 * (byte % 4));
  }
  // Dovecot writes the outer state first, then the inner one (checked
  // against `doveadm pw` output in cram_md5_test.cc).
  return CramMd5Secret{.inner = {words[4], words[5], words[6], words[7]},
                       .outer = {words[0], words[1], words[2], words[3]}};
}

std::string CramMd5SecretHex(std::string_view password) {
  const CramMd5Secret secret = SecretFromPassword(password);
  std::string hex;
  AppendStateHex(secret.outer, &hex);
  AppendStateHex(secret.inner, &hex);
  return hex;
}

std::string CramMd5DigestHex(const CramMd5Secret& secret, std::string_view challenge) {
  const std::array<uint8_t, 16> inner = Md5Finish(secret.inner, kBlockBytes, challenge);
  const std::array<uint8_t, 16> outer =
      Md5Finish(secret.outer, kBlockBytes,
                std::string_view(reinterpret_cast<const char*>(inner.data()), inner.size()));
  std::string hex;
  for (uint8_t v : outer) {
    hex.push_back(kHexDigits[v >> 4]);
    hex.push_back(kHexDigits[v & 15]);
  }
  return hex;
}

}  // namespace etrnd::auth
