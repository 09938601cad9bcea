// The request side of the /metrics HTTP/1.0-1.1 responder, pure: bytes in,
// a request line out. It keeps the request head (at most max_bytes) across
// receives, so a head split anywhere parses the same; the body and headers
// are not needed and are not interpreted. Anything odd is a bad request.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace etrnd::metrics {

// A scrape's request head is a few hundred bytes; more is not a scraper.
inline constexpr size_t kHttpRequestBytesMax = 8 * 1024;

enum class HttpParseResult { kNeedMore, kComplete, kBadRequest, kTooLarge };

struct HttpRequest {
  std::string method;
  std::string target;   // as sent, query included
  std::string version;  // "HTTP/1.0" or "HTTP/1.1"
  // The target without its query string.
  std::string_view path() const;
};

class HttpRequestParser {
 public:
  explicit HttpRequestParser(size_t max_bytes = kHttpRequestBytesMax) : max_bytes_(max_bytes) {}

  // Takes bytes of `in` (*consumed says how many) until the head's empty
  // line; after kComplete `out` is filled and later bytes are not taken.
  HttpParseResult Parse(std::string_view in, size_t* consumed, HttpRequest* out);

 private:
  HttpParseResult ParseHead(HttpRequest* out) const;

  const size_t max_bytes_;
  std::string head_;
  bool done_ = false;
};

enum class HttpStatus {
  kOk = 200,
  kBadRequest = 400,
  kNotFound = 404,
  kMethodNotAllowed = 405,
  kRequestTimeout = 408,
  kTooLarge = 431,
  kUnavailable = 503
};

// What the endpoint answers to a parsed request: 200 for GET or HEAD of
// /metrics, 404 for another path, 405 for another method.
HttpStatus RouteMetricsRequest(const HttpRequest& request);

// A whole HTTP/1.0 response with Connection: close (one request per
// connection). With head_only the body is left out, its length kept.
std::string BuildHttpResponse(HttpStatus status, std::string_view content_type,
                              std::string_view body, bool head_only = false);

}  // namespace etrnd::metrics
