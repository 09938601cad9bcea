#include "etrnd/proxy/proxy_header.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace etrnd::proxy {
namespace {

using Result = ProxyHeaderParser::Result;

const std::string kSignature("\r\n\r\n\0\r\nQUIT\n", 12);

std::string V2(uint8_t version_command, uint8_t family_transport, const std::string& block) {
  std::string header = kSignature;
  header.push_back(static_cast<char>(version_command));
  header.push_back(static_cast<char>(family_transport));
  header.push_back(static_cast<char>(block.size() >> 8));
  header.push_back(static_cast<char>(block.size() & 0xFF));
  return header + block;
}

std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

// 192.0.2.55:40000 -> 198.51.100.1:25
std::string V2Inet4Block() { return Bytes({192, 0, 2, 55, 198, 51, 100, 1, 0x9C, 0x40, 0x00, 25}); }

// 2001:db8::55 port 40000 -> 2001:db8::1 port 25
std::string V2Inet6Block() {
  std::string block = Bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x55});
  block += Bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01});
  block += Bytes({0x9C, 0x40, 0x00, 25});
  return block;
}

struct Parsed {
  Result result;
  size_t consumed = 0;  // of the whole input, over every call
  ProxyHeader header;
  std::string error;
};

// Feeds `input` in pieces cut at `splits` (increasing offsets).
Parsed ParseInPieces(const std::string& input, const std::vector<size_t>& splits) {
  ProxyHeaderParser parser;
  Parsed parsed{Result::kNeedMore, 0, {}, {}};
  size_t start = 0;
  std::vector<size_t> ends = splits;
  ends.push_back(input.size());
  for (size_t end : ends) {
    size_t consumed = 0;
    parsed.result =
        parser.Parse(std::string_view(input).substr(start, end - start), &consumed, &parsed.header);
    parsed.consumed += consumed;
    if (parsed.result != Result::kNeedMore) break;
    EXPECT_EQ(consumed, end - start) << "kNeedMore consumes everything";
    start = end;
  }
  parsed.error = std::string(parser.error());
  return parsed;
}

Parsed ParseWhole(const std::string& input) { return ParseInPieces(input, {}); }

TEST(ProxyHeaderV1, Tcp4) {
  const std::string header = "PROXY TCP4 192.0.2.55 198.51.100.1 40000 25\r\n";
  Parsed parsed = ParseWhole(header);
  ASSERT_EQ(parsed.result, Result::kDone) << parsed.error;
  EXPECT_EQ(parsed.consumed, header.size());
  EXPECT_EQ(parsed.header.version, 1);
  EXPECT_TRUE(parsed.header.has_addresses);
  EXPECT_EQ(parsed.header.source.ToString(), "192.0.2.55:40000");
  EXPECT_EQ(parsed.header.destination.ToString(), "198.51.100.1:25");
}

TEST(ProxyHeaderV1, Tcp6) {
  Parsed parsed = ParseWhole("PROXY TCP6 2001:db8::55 2001:db8::1 65535 0\r\n");
  ASSERT_EQ(parsed.result, Result::kDone) << parsed.error;
  EXPECT_EQ(parsed.header.source.ToString(), "[2001:db8::55]:65535");
  EXPECT_EQ(parsed.header.destination.ToString(), "[2001:db8::1]:0");
}

TEST(ProxyHeaderV1, UnknownKeepsRealPeer) {
  for (std::string header : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"}) {
    Parsed parsed = ParseWhole(header);
    ASSERT_EQ(parsed.result, Result::kDone) << header;
    EXPECT_EQ(parsed.consumed, header.size());
    EXPECT_EQ(parsed.header.version, 1);
    EXPECT_FALSE(parsed.header.has_addresses);
  }
}

TEST(ProxyHeaderV1, LongestLegalHeadersFit) {
  const std::string v6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const std::string tcp6 = "PROXY TCP6 " + v6 + " " + v6 + " 65535 65535\r\n";
  Parsed parsed = ParseWhole(tcp6);
  ASSERT_EQ(parsed.result, Result::kDone) << parsed.error;
  EXPECT_EQ(parsed.consumed, tcp6.size());
  // The spec's worst case: UNKNOWN followed by the longest TCP6 fields.
  const std::string unknown = "PROXY UNKNOWN " + v6 + " " + v6 + " 65535 65535\r\n";
  ASSERT_EQ(unknown.size(), kV1HeaderBytesMax);
  EXPECT_EQ(ParseWhole(unknown).result, Result::kDone);
}

TEST(ProxyHeaderV1, Overlong) {
  // 107 octets without a line end: an error without waiting for more.
  std::string header = "PROXY UNKNOWN " + std::string(kV1HeaderBytesMax - 14, 'x');
  ASSERT_EQ(header.size(), kV1HeaderBytesMax);
  Parsed parsed = ParseWhole(header);
  EXPECT_EQ(parsed.result, Result::kError);
  EXPECT_NE(parsed.error.find("longer"), std::string::npos) << parsed.error;
  // One octet short of the bound is still a possible header.
  EXPECT_EQ(ParseWhole(header.substr(0, kV1HeaderBytesMax - 1)).result, Result::kNeedMore);
}

TEST(ProxyHeaderV1, Malformed) {
  for (const char* header : {
           "PROXY TCP4 192.0.2.55 198.51.100.1 40000 25\n",      // bare LF
           "PROXY TCP4 192.0.2.55 198.51.100.1 40000\r\n",       // 4 fields
           "PROXY TCP4 192.0.2.55 198.51.100.1 40000 25 1\r\n",  // 6 fields
           "PROXY TCP4  192.0.2.55 198.51.100.1 40000 25\r\n",   // double space
           "PROXY TCP5 192.0.2.55 198.51.100.1 40000 25\r\n",    // protocol
           "PROXY tcp4 192.0.2.55 198.51.100.1 40000 25\r\n",    // case
           "PROXY TCP4 2001:db8::1 198.51.100.1 40000 25\r\n",   // family
           "PROXY TCP6 192.0.2.55 198.51.100.1 40000 25\r\n",    // family
           "PROXY TCP4 192.0.2.256 198.51.100.1 40000 25\r\n",   // address
           "PROXY TCP4 192.0.2.55 198.51.100.1 65536 25\r\n",    // port range
           "PROXY TCP4 192.0.2.55 198.51.100.1 040000 25\r\n",   // leading zero
           "PROXY TCP4 192.0.2.55 198.51.100.1 -1 25\r\n",       // sign
           "PROXY TCP4 192.0.2.55 198.51.100.1 4000a 25\r\n",    // digits
           "PROXY TCP4 192.0.2.55\r 198.51.100.1 40000 25\r\n",  // bare CR
           "PROXY\r\n",                                          // no space
           "PROXY \r\n",                                         // nothing
           "EHLO client.test\r\n",                               // not PROXY at all
           "proxy TCP4 192.0.2.55 198.51.100.1 40000 25\r\n",    // case of the prefix
       }) {
    Parsed parsed = ParseWhole(header);
    EXPECT_EQ(parsed.result, Result::kError) << header;
    EXPECT_FALSE(parsed.error.empty()) << header;
  }
}

TEST(ProxyHeaderV1, NotProxyIsRejectedAtTheFirstWrongByte) {
  EXPECT_EQ(ParseWhole("PROXX").result, Result::kError);
  EXPECT_EQ(ParseWhole("E").result, Result::kError);
  EXPECT_EQ(ParseWhole("PROX").result, Result::kNeedMore);
  EXPECT_EQ(ParseWhole("").result, Result::kNeedMore);
}

TEST(ProxyHeaderV2, ProxyInet4) {
  const std::string header = V2(0x21, 0x11, V2Inet4Block());
  Parsed parsed = ParseWhole(header);
  ASSERT_EQ(parsed.result, Result::kDone) << parsed.error;
  EXPECT_EQ(parsed.consumed, header.size());
  EXPECT_EQ(parsed.header.version, 2);
  EXPECT_TRUE(parsed.header.has_addresses);
  EXPECT_EQ(parsed.header.source.ToString(), "192.0.2.55:40000");
  EXPECT_EQ(parsed.header.destination.ToString(), "198.51.100.1:25");
}

TEST(ProxyHeaderV2, ProxyInet6) {
  Parsed parsed = ParseWhole(V2(0x21, 0x21, V2Inet6Block()));
  ASSERT_EQ(parsed.result, Result::kDone) << parsed.error;
  EXPECT_EQ(parsed.header.source.ToString(), "[2001:db8::55]:40000");
  EXPECT_EQ(parsed.header.destination.ToString(), "[2001:db8::1]:25");
}

TEST(ProxyHeaderV2, TlvsAreSkipped) {
  // PP2_TYPE_ALPN "smtp" and a NOOP TLV after the address block.
  const std::string tlvs = Bytes({0x01, 0x00, 0x04}) + "smtp" + Bytes({0x04, 0x00, 0x02, 0, 0});
  const std::string header = V2(0x21, 0x11, V2Inet4Block() + tlvs);
  Parsed parsed = ParseWhole(header + "EHLO x\r\n");
  ASSERT_EQ(parsed.result, Result::kDone) << parsed.error;
  EXPECT_EQ(parsed.consumed, header.size());
  EXPECT_EQ(parsed.header.source.ToString(), "192.0.2.55:40000");
}

TEST(ProxyHeaderV2, LocalKeepsRealPeerAndIgnoresTheBlock) {
  for (const std::string& header :
       {V2(0x20, 0x00, ""), V2(0x20, 0x11, V2Inet4Block()), V2(0x20, 0xF7, "junk")}) {
    Parsed parsed = ParseWhole(header);
    ASSERT_EQ(parsed.result, Result::kDone) << parsed.error;
    EXPECT_EQ(parsed.consumed, header.size());
    EXPECT_EQ(parsed.header.version, 2);
    EXPECT_FALSE(parsed.header.has_addresses);
  }
}

TEST(ProxyHeaderV2, UnspecAndUnixKeepRealPeer) {
  for (const std::string& header :
       {V2(0x21, 0x00, ""), V2(0x21, 0x31, std::string(kV2AddressBytesMax, 'p'))}) {
    Parsed parsed = ParseWhole(header);
    ASSERT_EQ(parsed.result, Result::kDone) << parsed.error;
    EXPECT_EQ(parsed.consumed, header.size());
    EXPECT_FALSE(parsed.header.has_addresses);
  }
}

TEST(ProxyHeaderV2, Malformed) {
  for (const std::string& header : {
           V2(0x11, 0x11, V2Inet4Block()),                // version 1 in a v2 header
           V2(0x31, 0x11, V2Inet4Block()),                // version 3
           V2(0x22, 0x11, V2Inet4Block()),                // command 2
           V2(0x21, 0x41, V2Inet4Block()),                // family 4
           V2(0x21, 0x13, V2Inet4Block()),                // transport 3
           V2(0x21, 0x12, V2Inet4Block()),                // datagram on a stream
           V2(0x21, 0x10, V2Inet4Block()),                // unspecified transport
           V2(0x21, 0x11, V2Inet4Block().substr(0, 11)),  // short IPv4 block
           V2(0x21, 0x21, V2Inet4Block()),                // IPv4-sized IPv6 block
           kSignature.substr(0, 11) + "X",                // signature
       }) {
    Parsed parsed = ParseWhole(header);
    EXPECT_EQ(parsed.result, Result::kError) << testing::PrintToString(header);
    EXPECT_FALSE(parsed.error.empty());
  }
}

TEST(ProxyHeaderV2, Overlong) {
  const std::string largest = V2(0x21, 0x11, std::string(kHeaderBytesMax - kV2FixedBytes, '\0'));
  ASSERT_EQ(largest.size(), kHeaderBytesMax);
  EXPECT_EQ(ParseWhole(largest).result, Result::kDone);
  // One octet more is refused from the fixed part alone: nothing is buffered.
  const std::string too_long =
      V2(0x21, 0x11, std::string(kHeaderBytesMax - kV2FixedBytes + 1, '\0'));
  Parsed parsed = ParseWhole(too_long.substr(0, kV2FixedBytes));
  EXPECT_EQ(parsed.result, Result::kError);
  EXPECT_NE(parsed.error.find("longer"), std::string::npos) << parsed.error;
}

TEST(ProxyHeaderV2, NeedsMoreUntilTheBlockIsComplete) {
  const std::string header = V2(0x21, 0x11, V2Inet4Block());
  for (size_t n = 0; n < header.size(); ++n) {
    EXPECT_EQ(ParseWhole(header.substr(0, n)).result, Result::kNeedMore) << n;
  }
}

// Every header, cut at every byte position, with SMTP bytes behind it in the
// same read: the header's octets are consumed, the SMTP bytes are not.
TEST(ProxyHeader, SplitAtEveryPositionLeavesTrailingBytes) {
  const std::string smtp = "EHLO client.test\r\n";
  for (const std::string& header : {
           std::string("PROXY TCP4 192.0.2.55 198.51.100.1 40000 25\r\n"),
           std::string("PROXY TCP6 2001:db8::55 2001:db8::1 40000 25\r\n"),
           V2(0x21, 0x11, V2Inet4Block()),
           V2(0x21, 0x21, V2Inet6Block()),
       }) {
    const std::string input = header + smtp;
    const Parsed whole = ParseWhole(input);
    ASSERT_EQ(whole.result, Result::kDone) << whole.error;
    for (size_t cut = 0; cut <= input.size(); ++cut) {
      Parsed parsed = ParseInPieces(input, {cut});
      ASSERT_EQ(parsed.result, Result::kDone) << "cut " << cut << ": " << parsed.error;
      EXPECT_EQ(parsed.consumed, header.size()) << "cut " << cut;
      EXPECT_EQ(parsed.header.source.ToString(), whole.header.source.ToString());
      EXPECT_EQ(parsed.header.destination.ToString(), whole.header.destination.ToString());
    }
    // And one byte at a time.
    std::vector<size_t> every;
    for (size_t i = 1; i < input.size(); ++i) every.push_back(i);
    Parsed bytewise = ParseInPieces(input, every);
    ASSERT_EQ(bytewise.result, Result::kDone);
    EXPECT_EQ(bytewise.consumed, header.size());
    EXPECT_EQ(bytewise.header.source.ToString(), whole.header.source.ToString());
  }
}

TEST(ProxyHeader, BufferStaysBounded) {
  // A v1 header that never ends, fed in small pieces: an error at the bound.
  ProxyHeaderParser parser;
  ProxyHeader header;
  size_t consumed = 0;
  ASSERT_EQ(parser.Parse("PROXY ", &consumed, &header), Result::kNeedMore);
  Result result = Result::kNeedMore;
  size_t fed = 6;
  while (result == Result::kNeedMore) {
    ASSERT_LE(parser.buffered_bytes(), kHeaderBytesMax);
    result = parser.Parse("xxxxxxxx", &consumed, &header);
    fed += 8;
    ASSERT_LE(fed, kHeaderBytesMax + 8);
  }
  EXPECT_EQ(result, Result::kError);
  EXPECT_LE(fed, kV1HeaderBytesMax + 8);
}

}  // namespace
}  // namespace etrnd::proxy
