#include "lib/http/http.h"

#include <CivetServer.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace faultlab::http {
namespace {

const char* Reason(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    default:
      return "Service Unavailable";
  }
}

void Send(mg_connection* conn, int code, const char* type, const std::string& body) {
  mg_printf(
      conn,
      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
      code, Reason(code), type, body.size());
  mg_write(conn, body.data(), body.size());
}

class MetricsHandler : public CivetHandler {
 public:
  explicit MetricsHandler(std::function<std::string()> scrape) : scrape_(std::move(scrape)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    Send(conn, 200, "text/plain; version=0.0.4", scrape_());
    return true;
  }

 private:
  std::function<std::string()> scrape_;
};

class HealthHandler : public CivetHandler {
 public:
  explicit HealthHandler(std::function<std::string()> f) : f_(std::move(f)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    const std::string problem = f_();
    Send(conn, problem.empty() ? 200 : 503, "text/plain",
         problem.empty() ? "ok\n" : problem + "\n");
    return true;
  }

 private:
  std::function<std::string()> f_;
};

}  // namespace

std::string Request::Param(const std::string& name) const {
  char buf[4096];
  const int n = mg_get_var(query.data(), query.size(), name.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

class Server::RouteHandler : public CivetHandler {
 public:
  explicit RouteHandler(Route route) : route_(std::move(route)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    const mg_request_info* info = mg_get_request_info(conn);
    Request req;
    req.path = info->local_uri ? info->local_uri : "";
    req.query = info->query_string ? info->query_string : "";
    const char* auth = mg_get_header(conn, "Authorization");
    req.authorization = auth ? auth : "";
    Reply r;
    try {
      r = route_.handler(req);
    } catch (const std::exception& e) {
      r = {500, "text/plain", std::string("internal error: ") + e.what() + "\n"};
    }
    Send(conn, r.code, r.type.c_str(), r.body);
    return true;
  }

 private:
  Route route_;
};

struct Server::Handlers {
  std::unique_ptr<MetricsHandler> metrics;
  std::unique_ptr<HealthHandler> health;
  std::vector<std::unique_ptr<RouteHandler>> routes;
};

// Where to reach a server listening on `host` (of IsHostPort's HOST:PORT):
// a wildcard address through loopback.
std::string DialHost(const std::string& host) {
  if (host == "0.0.0.0") return "127.0.0.1";
  if (host == "[::]") return "::1";
  if (host.size() > 2 && host.front() == '[') return host.substr(1, host.size() - 2);
  return host;
}

// Opens and closes one connection to host:port, ignoring failure.
void Knock(const std::string& host, int port) {
  addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* ai = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &ai) != 0) return;
  const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd >= 0) {
    connect(fd, ai->ai_addr, ai->ai_addrlen);
    close(fd);
  }
  freeaddrinfo(ai);
}

bool IsHostPort(const std::string& addr) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos || colon + 1 == addr.size()) return false;
  const std::string host = addr.substr(0, colon), port = addr.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) return false;
  if (host == "localhost") return true;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    return host.find_first_not_of("0123456789abcdefABCDEF:.", 1) == host.size() - 1;
  }
  return !host.empty() && host.find_first_not_of("0123456789.") == std::string::npos;
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const std::string& addr,
                                                      std::function<std::string()> scrape,
                                                      std::function<std::string()> healthy,
                                                      std::vector<Route> routes) {
  std::unique_ptr<Server> s(new Server());
  s->handlers_ = std::make_unique<Handlers>();
  s->handlers_->metrics = std::make_unique<MetricsHandler>(std::move(scrape));
  s->handlers_->health = std::make_unique<HealthHandler>(std::move(healthy));
  if (!IsHostPort(addr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address '", addr,
                     "': expected one HOST:PORT (an IPv4 address, [IPv6] or "
                     "localhost)"));
  }
  // Slow or silent clients cannot starve /healthz and /metrics: a request
  // must arrive whole within kRequestTimeoutMs (civetweb counts from its
  // first byte: a trickle is cut too), and kThreads serve at once.
  const std::vector<std::string> options = {"listening_ports",    addr,
                                            "num_threads",        std::to_string(kThreads),
                                            "request_timeout_ms", std::to_string(kRequestTimeoutMs),
                                            "enable_keep_alive",  "no"};
  try {
    s->civet_ = std::make_unique<CivetServer>(options);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", addr, ": ", e.what()));
  }
  s->civet_->addHandler("/metrics", s->handlers_->metrics.get());
  s->civet_->addHandler("/healthz", s->handlers_->health.get());
  for (Route& r : routes) {
    const std::string prefix = r.prefix;
    s->handlers_->routes.push_back(std::make_unique<RouteHandler>(std::move(r)));
    s->civet_->addHandler(prefix, s->handlers_->routes.back().get());
  }
  std::vector<int> ports = s->civet_->getListeningPorts();
  s->port_ = ports.empty() ? 0 : ports[0];
  s->dial_host_ = DialHost(addr.substr(0, addr.rfind(':')));
  return s;
}

Server::~Server() {
  if (!civet_) return;
  // civetweb's listener notices a stop only between polls of up to 2 s
  // (SOCKET_TIMEOUT_QUANTUM in civetweb 1.15): knock until it has, so that
  // stopping takes milliseconds (a server's SIGTERM promises 2 s in all).
  std::atomic<bool> closed{false};
  std::thread knocker([this, &closed] {
    while (!closed.load()) {
      Knock(dial_host_, port_);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  civet_->close();
  closed = true;
  knocker.join();
}

}  // namespace faultlab::http
