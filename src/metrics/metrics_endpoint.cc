#include "etrnd/metrics/metrics_endpoint.h"

#include <memory>
#include <utility>

#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/metrics/http_request.h"
#include "etrnd/metrics/text_format.h"
#include "etrnd/reactor/connection.h"

namespace etrnd::metrics {
namespace {

constexpr std::string_view kPlainText = "text/plain; charset=utf-8";

// Outlives the handler when a scrape or the timer still refers to it: they
// hold a weak_ptr and do nothing once the connection is gone.
struct Exchange {
  reactor::Connection* conn = nullptr;
  bool answered = false;
};

class MetricsHttpHandler : public reactor::ConnectionHandler {
 public:
  MetricsHttpHandler(ScrapeFn scrape, std::shared_ptr<size_t> open_connections)
      : scrape_(std::move(scrape)), open_connections_(std::move(open_connections)) {
    ++*open_connections_;
  }
  ~MetricsHttpHandler() override {
    ETRND_CHECK(*open_connections_ > 0);
    --*open_connections_;
  }

  void OnOpen(reactor::Connection& conn) override {
    exchange_->conn = &conn;
    if (*open_connections_ > kHttpConnectionsPerReactorMax) {
      Answer(HttpStatus::kUnavailable, kPlainText, "too many metrics connections\n");
      return;
    }
    std::weak_ptr<Exchange> weak = exchange_;
    timer_ = conn.reactor().RunAfter(kHttpExchangeTimeout, [weak] {
      std::shared_ptr<Exchange> exchange = weak.lock();
      if (exchange == nullptr || exchange->conn == nullptr) return;
      if (exchange->answered) {
        exchange->conn->Abort();  // the scraper does not take the reply
      } else {
        exchange->answered = true;
        exchange->conn->Send(BuildHttpResponse(HttpStatus::kRequestTimeout, kPlainText, ""));
        exchange->conn->Close();
      }
    });
  }

  void OnReceive(reactor::Connection&, std::string_view bytes) override {
    if (exchange_->answered || request_complete_) return;  // one request per connection
    size_t consumed = 0;
    HttpRequest request;
    switch (parser_.Parse(bytes, &consumed, &request)) {
      case HttpParseResult::kNeedMore:
        return;
      case HttpParseResult::kBadRequest:
        return Answer(HttpStatus::kBadRequest, kPlainText, "bad request\n");
      case HttpParseResult::kTooLarge:
        return Answer(HttpStatus::kTooLarge, kPlainText, "request too large\n");
      case HttpParseResult::kComplete:
        break;
    }
    request_complete_ = true;
    HttpStatus status = RouteMetricsRequest(request);
    if (status == HttpStatus::kNotFound) return Answer(status, kPlainText, "not found\n");
    if (status != HttpStatus::kOk) return Answer(status, kPlainText, "use GET\n");
    bool head_only = request.method == "HEAD";
    std::weak_ptr<Exchange> weak = exchange_;
    scrape_([weak, head_only](std::string text) {
      std::shared_ptr<Exchange> exchange = weak.lock();
      if (exchange == nullptr || exchange->conn == nullptr || exchange->answered) return;
      exchange->answered = true;
      exchange->conn->Send(BuildHttpResponse(HttpStatus::kOk, kTextContentType, text, head_only));
      exchange->conn->Close();
    });
  }

  void OnClosed(reactor::Connection& conn, int) override {
    if (timer_ != 0) conn.reactor().CancelTimer(timer_);
    exchange_->conn = nullptr;
  }

 private:
  void Answer(HttpStatus status, std::string_view content_type, std::string_view body) {
    ETRND_CHECK(exchange_->conn != nullptr);
    exchange_->answered = true;
    exchange_->conn->Send(BuildHttpResponse(status, content_type, body));
    exchange_->conn->Close();
  }

  ScrapeFn scrape_;
  std::shared_ptr<size_t> open_connections_;
  std::shared_ptr<Exchange> exchange_ = std::make_shared<Exchange>();
  HttpRequestParser parser_;
  bool request_complete_ = false;
  reactor::Reactor::TimerId timer_ = 0;
};

}  // namespace

absl::Status ListenMetrics(reactor::Reactor& reactor, const SocketAddress& address,
                           ScrapeFn scrape) {
  // Per reactor, touched only on its thread.
  auto open_connections = std::make_shared<size_t>(0);
  return reactor.Listen(address,
                        [scrape = std::move(scrape), open_connections](
                            reactor::Reactor&, const SocketAddress&, const SocketAddress&) {
                          return std::make_unique<MetricsHttpHandler>(scrape, open_connections);
                        });
}

}  // namespace etrnd::metrics
