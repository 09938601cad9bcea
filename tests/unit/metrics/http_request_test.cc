#include "etrnd/metrics/http_request.h"

#include <gtest/gtest.h>

#include <string>

namespace etrnd::metrics {
namespace {

constexpr std::string_view kScrape =
    "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Prometheus/2.42.0\r\n"
    "Accept: text/plain;version=0.0.4\r\n\r\n";

HttpParseResult ParseAll(std::string_view text, HttpRequest* out) {
  HttpRequestParser parser;
  size_t consumed = 0;
  return parser.Parse(text, &consumed, out);
}

TEST(HttpRequestTest, ParsesAScrape) {
  HttpRequest request;
  ASSERT_EQ(ParseAll(kScrape, &request), HttpParseResult::kComplete);
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.target, "/metrics");
  EXPECT_EQ(request.version, "HTTP/1.1");
  EXPECT_EQ(RouteMetricsRequest(request), HttpStatus::kOk);
}

TEST(HttpRequestTest, SplitAtEveryByteParsesTheSame) {
  for (size_t split = 0; split <= kScrape.size(); ++split) {
    HttpRequestParser parser;
    HttpRequest request;
    size_t consumed = 0;
    HttpParseResult first = parser.Parse(kScrape.substr(0, split), &consumed, &request);
    EXPECT_EQ(consumed, split);
    if (split < kScrape.size()) {
      ASSERT_EQ(first, HttpParseResult::kNeedMore) << split;
      ASSERT_EQ(parser.Parse(kScrape.substr(split), &consumed, &request),
                HttpParseResult::kComplete)
          << split;
      EXPECT_EQ(consumed, kScrape.size() - split);
    } else {
      ASSERT_EQ(first, HttpParseResult::kComplete);
    }
    EXPECT_EQ(request.target, "/metrics") << split;
    EXPECT_EQ(request.version, "HTTP/1.1") << split;
  }
}

TEST(HttpRequestTest, OneByteAtATime) {
  HttpRequestParser parser;
  HttpRequest request;
  size_t consumed = 0;
  for (size_t i = 0; i + 1 < kScrape.size(); ++i) {
    ASSERT_EQ(parser.Parse(kScrape.substr(i, 1), &consumed, &request), HttpParseResult::kNeedMore);
    ASSERT_EQ(consumed, 1u);
  }
  EXPECT_EQ(parser.Parse(kScrape.substr(kScrape.size() - 1), &consumed, &request),
            HttpParseResult::kComplete);
  EXPECT_EQ(request.method, "GET");
}

TEST(HttpRequestTest, BytesAfterTheHeadAreNotTaken) {
  HttpRequestParser parser;
  HttpRequest request;
  size_t consumed = 0;
  std::string text = "GET /metrics HTTP/1.0\r\n\r\nGET /other HTTP/1.0\r\n\r\n";
  ASSERT_EQ(parser.Parse(text, &consumed, &request), HttpParseResult::kComplete);
  EXPECT_EQ(consumed, text.find("GET /other"));
  EXPECT_EQ(parser.Parse("more", &consumed, &request), HttpParseResult::kComplete);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(request.target, "/metrics");
}

TEST(HttpRequestTest, BareLfHeadAndHttp10) {
  HttpRequest request;
  ASSERT_EQ(ParseAll("HEAD /metrics?x=1 HTTP/1.0\n\n", &request), HttpParseResult::kComplete);
  EXPECT_EQ(request.method, "HEAD");
  EXPECT_EQ(request.path(), "/metrics");
  EXPECT_EQ(RouteMetricsRequest(request), HttpStatus::kOk);
}

TEST(HttpRequestTest, OversizeHeadIsTooLarge) {
  HttpRequestParser parser;
  HttpRequest request;
  size_t consumed = 0;
  std::string head = "GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(kHttpRequestBytesMax, 'a');
  EXPECT_EQ(parser.Parse(head, &consumed, &request), HttpParseResult::kTooLarge);
  EXPECT_EQ(consumed, kHttpRequestBytesMax);
}

TEST(HttpRequestTest, HeadOfExactlyTheLimitIsAccepted) {
  std::string head = "GET /metrics HTTP/1.1\r\nX-Pad: ";
  head += std::string(kHttpRequestBytesMax - head.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(head.size(), kHttpRequestBytesMax);
  HttpRequest request;
  EXPECT_EQ(ParseAll(head, &request), HttpParseResult::kComplete);
  EXPECT_EQ(ParseAll(head.substr(0, 14) + "a" + head.substr(14), &request),
            HttpParseResult::kTooLarge);
}

TEST(HttpRequestTest, MalformedRequestLinesAreBad) {
  HttpRequest request;
  for (std::string_view bad :
       {"GET\r\n\r\n", "GET /metrics\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1 x\r\n\r\n", "\r\n\r\n", "GET /met\x01rics HTTP/1.1\r\n\r\n"}) {
    EXPECT_EQ(ParseAll(bad, &request), HttpParseResult::kBadRequest) << bad;
  }
}

TEST(HttpRequestTest, OtherPathIsNotFoundOtherMethodNotAllowed) {
  HttpRequest request;
  ASSERT_EQ(ParseAll("GET /metricsx HTTP/1.1\r\n\r\n", &request), HttpParseResult::kComplete);
  EXPECT_EQ(RouteMetricsRequest(request), HttpStatus::kNotFound);
  ASSERT_EQ(ParseAll("GET / HTTP/1.1\r\n\r\n", &request), HttpParseResult::kComplete);
  EXPECT_EQ(RouteMetricsRequest(request), HttpStatus::kNotFound);
  ASSERT_EQ(ParseAll("POST /metrics HTTP/1.1\r\n\r\n", &request), HttpParseResult::kComplete);
  EXPECT_EQ(RouteMetricsRequest(request), HttpStatus::kMethodNotAllowed);
  ASSERT_EQ(ParseAll("get /metrics HTTP/1.1\r\n\r\n", &request), HttpParseResult::kComplete);
  EXPECT_EQ(RouteMetricsRequest(request), HttpStatus::kMethodNotAllowed);
}

TEST(HttpRequestTest, ResponseHasLengthAndCloses) {
  EXPECT_EQ(BuildHttpResponse(HttpStatus::kOk, "text/plain", "abc"),
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            "Connection: close\r\n\r\nabc");
  EXPECT_EQ(BuildHttpResponse(HttpStatus::kOk, "text/plain", "abc", /*head_only=*/true),
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            "Connection: close\r\n\r\n");
  EXPECT_NE(BuildHttpResponse(HttpStatus::kMethodNotAllowed, "text/plain", "")
                .find("\r\nAllow: GET, HEAD\r\n"),
            std::string::npos);
}

}  // namespace
}  // namespace etrnd::metrics
