#include "etrnd/metrics/http_request.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "etrnd/common/check.h"
#include "etrnd/common/strings.h"

namespace etrnd::metrics {
namespace {

constexpr std::string_view kMetricsPath = "/metrics";

bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c <= ' ' || c >= 127) return false;
  }
  return true;
}

std::string_view ReasonPhrase(HttpStatus status) {
  switch (status) {
    case HttpStatus::kOk:
      return "OK";
    case HttpStatus::kBadRequest:
      return "Bad Request";
    case HttpStatus::kNotFound:
      return "Not Found";
    case HttpStatus::kMethodNotAllowed:
      return "Method Not Allowed";
    case HttpStatus::kRequestTimeout:
      return "Request Timeout";
    case HttpStatus::kTooLarge:
      return "Request Header Fields Too Large";
    case HttpStatus::kUnavailable:
      return "Service Unavailable";
  }
  return "Error";
}

}  // namespace

std::string_view HttpRequest::path() const {
  std::string_view view = target;
  return view.substr(0, view.find('?'));
}

HttpParseResult HttpRequestParser::Parse(std::string_view in, size_t* consumed, HttpRequest* out) {
  *consumed = 0;
  if (done_) return HttpParseResult::kComplete;
  // The head ends at an empty line: CRLF CRLF, or LF LF from lenient clients.
  // Byte by byte into head_, so a terminator split across receives is found.
  for (size_t i = 0; i < in.size(); ++i) {
    if (head_.size() >= max_bytes_) return HttpParseResult::kTooLarge;
    head_.push_back(in[i]);
    *consumed = i + 1;
    if (in[i] != '\n') continue;
    std::string_view head = head_;
    if (head.ends_with("\r\n\r\n") || head.ends_with("\n\n")) {
      done_ = true;
      return ParseHead(out);
    }
  }
  return HttpParseResult::kNeedMore;
}

HttpParseResult HttpRequestParser::ParseHead(HttpRequest* out) const {
  std::string_view head = head_;
  size_t line_end = head.find('\n');
  ETRND_CHECK(line_end != std::string_view::npos);
  std::string_view line = head.substr(0, line_end);
  if (line.ends_with('\r')) line.remove_suffix(1);
  // METHOD SP request-target SP HTTP-version (RFC 9112 3), single spaces.
  size_t first = line.find(' ');
  if (first == std::string_view::npos) return HttpParseResult::kBadRequest;
  size_t second = line.find(' ', first + 1);
  if (second == std::string_view::npos) return HttpParseResult::kBadRequest;
  std::string_view method = line.substr(0, first);
  std::string_view target = line.substr(first + 1, second - first - 1);
  std::string_view version = line.substr(second + 1);
  if (!IsToken(method) || !IsToken(target) || !target.starts_with('/')) {
    return HttpParseResult::kBadRequest;
  }
  if (version != "HTTP/1.0" && version != "HTTP/1.1") return HttpParseResult::kBadRequest;
  out->method = std::string(method);
  out->target = std::string(target);
  out->version = std::string(version);
  return HttpParseResult::kComplete;
}

HttpStatus RouteMetricsRequest(const HttpRequest& request) {
  if (request.path() != kMetricsPath) return HttpStatus::kNotFound;
  if (request.method != "GET" && request.method != "HEAD") return HttpStatus::kMethodNotAllowed;
  return HttpStatus::kOk;
}

std::string BuildHttpResponse(HttpStatus status, std::string_view content_type,
                              std::string_view body, bool head_only) {
  std::string response = absl::StrCat(
      "HTTP/1.0 ", static_cast<int>(status), " ", AsAbsl(ReasonPhrase(status)),
      "\r\nContent-Type: ", AsAbsl(content_type), "\r\nContent-Length: ", body.size(), "\r\n");
  if (status == HttpStatus::kMethodNotAllowed) response.append("Allow: GET, HEAD\r\n");
  response.append("Connection: close\r\n\r\n");
  if (!head_only) response.append(body);
  return response;
}

}  // namespace etrnd::metrics
