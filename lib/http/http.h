// Server: /metrics (Prometheus text format) and /healthz on the
// server's (or an agent's) --http-addr, through civetweb (which
// prometheus-cpp brings).
#ifndef FAULTLAB_LIB_HTTP_HTTP_H_
#define FAULTLAB_LIB_HTTP_HTTP_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

class CivetServer;

namespace faultlab::http {

// A page served beside /metrics: GET requests whose path starts with
// `prefix` go to `handler`.
struct Request {
  std::string path;           // decoded, without the query
  std::string query;          // raw, after '?'
  std::string authorization;  // the Authorization header, if any
  // One query parameter, URL-decoded ("" if absent).
  std::string Param(const std::string& name) const;
};
struct Reply {
  int code = 200;
  std::string type = "text/html; charset=utf-8";
  std::string body;
};
struct Route {
  std::string prefix;
  std::function<Reply(const Request&)> handler;
};

// One listening address, HOST:PORT: an IPv4 address, [IPv6] or localhost,
// and a decimal port — nothing civetweb would read as several ports or a
// TLS one ("127.0.0.1:80,0.0.0.0:81", "443s").
bool IsHostPort(const std::string& addr);

class Server {
 public:
  // Requests served at once, and the time a request has to arrive whole.
  static constexpr int kThreads = 16;
  static constexpr int kRequestTimeoutMs = 3000;

  // `addr` is HOST:PORT (IsHostPort; port 0: any free one). `healthy` returns "" when
  // healthy, else what is wrong (then /healthz answers 503 with it).
  // `scrape` returns the text exposition (e.g. ServerMetrics::Scrape).
  static absl::StatusOr<std::unique_ptr<Server>> Start(const std::string& addr,
                                                       std::function<std::string()> scrape,
                                                       std::function<std::string()> healthy,
                                                       std::vector<Route> routes = {});
  ~Server();
  int port() const { return port_; }

 private:
  Server() = default;
  struct Handlers;
  class RouteHandler;
  std::unique_ptr<Handlers> handlers_;
  std::unique_ptr<CivetServer> civet_;
  int port_ = 0;
  std::string dial_host_;  // where the listener is reached from here
};

}  // namespace faultlab::http

#endif  // FAULTLAB_LIB_HTTP_HTTP_H_
