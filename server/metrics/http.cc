#include "server/metrics/http.h"

#include <CivetServer.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace faultlab::server {
namespace {

void Reply(mg_connection* conn, int code, const char* type, const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
            code, code == 200 ? "OK" : "Service Unavailable", type, body.size());
  mg_write(conn, body.data(), body.size());
}

class MetricsHandler : public CivetHandler {
 public:
  explicit MetricsHandler(std::function<std::string()> scrape) : scrape_(std::move(scrape)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    Reply(conn, 200, "text/plain; version=0.0.4", scrape_());
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
    Reply(conn, problem.empty() ? 200 : 503, "text/plain", problem.empty() ? "ok\n" : problem + "\n");
    return true;
  }

 private:
  std::function<std::string()> f_;
};

}  // namespace

struct HttpServer::Handlers {
  std::unique_ptr<MetricsHandler> metrics;
  std::unique_ptr<HealthHandler> health;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& addr, std::function<std::string()> scrape, std::function<std::string()> healthy) {
  std::unique_ptr<HttpServer> s(new HttpServer());
  s->handlers_ = std::make_unique<Handlers>();
  s->handlers_->metrics = std::make_unique<MetricsHandler>(std::move(scrape));
  s->handlers_->health = std::make_unique<HealthHandler>(std::move(healthy));
  const std::vector<std::string> options = {"listening_ports", addr, "num_threads", "2"};
  try {
    s->civet_ = std::make_unique<CivetServer>(options);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", addr, ": ", e.what()));
  }
  s->civet_->addHandler("/metrics", s->handlers_->metrics.get());
  s->civet_->addHandler("/healthz", s->handlers_->health.get());
  std::vector<int> ports = s->civet_->getListeningPorts();
  s->port_ = ports.empty() ? 0 : ports[0];
  return s;
}

HttpServer::~HttpServer() {
  if (civet_) civet_->close();
}

}  // namespace faultlab::server
