// HttpServer: /metrics (Prometheus text format) and /healthz on the
// server's (or an agent's) --http-addr, through civetweb (which
// prometheus-cpp brings).
#ifndef FAULTLAB_SERVER_METRICS_HTTP_H_
#define FAULTLAB_SERVER_METRICS_HTTP_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

class CivetServer;

namespace faultlab::server {

class HttpServer {
 public:
  // `addr` is HOST:PORT (port 0: any free one). `healthy` returns "" when
  // healthy, else what is wrong (then /healthz answers 503 with it).
  // `scrape` returns the text exposition (e.g. ServerMetrics::Scrape).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& addr,
                                                           std::function<std::string()> scrape,
                                                           std::function<std::string()> healthy);
  ~HttpServer();
  int port() const { return port_; }

 private:
  HttpServer() = default;
  struct Handlers;
  std::unique_ptr<Handlers> handlers_;
  std::unique_ptr<CivetServer> civet_;
  int port_ = 0;
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_METRICS_HTTP_H_
