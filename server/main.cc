// faultlab-server: gRPC ingest into the durable store, replay workers, runs
// and regression verdicts, Query/Replay/Compare, /metrics and /healthz
// (DESIGN "Services"; docs/store.md, docs/metrics.md, docs/regressions.md,
// docs/security.md). Flags: config.h.
//
//   faultlab-server --data-dir DIR [--grpc-addr HOST:PORT] [--http-addr HOST:PORT] ...
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/profiles/profile.h"
#include "lib/http/http.h"
#include "lib/rpc/listener.h"
#include "server/config.h"
#include "server/html/pages.h"
#include "server/ingest/ingest_service.h"
#include "server/metrics/metrics.h"
#include "server/query/query_service.h"
#include "server/regress/analyzer.h"
#include "server/regress/compare_service.h"
#include "server/replay/replay_service.h"
#include "server/replay/worker.h"
#include "server/store/pg_store.h"
#include "server/store/sqlite_store.h"

namespace faultlab::server {
namespace {

// gRPC's share of the server (docs/security.md "Peers").
constexpr int kRpcThreads = 256;
constexpr size_t kRpcMemoryBytes = 512ULL << 20;
constexpr int kStreamsPerConnection = 64;
// A connection is closed if its HTTP/2 (and TLS) handshake is not done
// within kHandshakeMs (gRPC's default: 120 s), or once it has carried no
// call for kIdleConnectionMs.
constexpr int kHandshakeMs = 20 * 1000;
constexpr int kIdleConnectionMs = 10 * 60 * 1000;

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const ServerConfig& c) {
  if (c.postgres) {
    absl::StatusOr<std::unique_ptr<PgStore>> pg = PgStore::Open(c.pg, c.blob_dir);
    if (!pg.ok()) return pg.status();
    return std::unique_ptr<Store>(std::move(*pg));
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> sq = SqliteStore::Open(c.data_dir);
  if (!sq.ok()) return sq.status();
  return std::unique_ptr<Store>(std::move(*sq));
}

// Gauges read from the store at each scrape: shared by every replica on it.
void RefreshFromStore(ServerMetrics& metrics, Store* store) {
  metrics.set_refresh([&metrics, store] {
    metrics.store_bytes(store->Identity()).Set(static_cast<double>(store->SizeBytes()));
    metrics.store_write_failures().Set(static_cast<double>(store->write_failures()));
    if (auto pending = store->PendingReplays(); pending.ok()) {
      metrics.replay_queue_depth().Set(static_cast<double>(pending->size()));
    }
  });
}

// /healthz: unhealthy while the store's writes fail (a full disk: agents
// keep their data and retry; an operator should look).
std::string Health(const Store* store) {
  const std::string problem = store->WriteProblem();
  return problem.empty() ? "" : "the store's last write failed: " + problem;
}

std::shared_ptr<grpc::ServerCredentials> Credentials(const ServerConfig& c) {
  if (c.tls_cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({c.tls_key, c.tls_cert});
  return grpc::SslServerCredentials(ssl);
}

std::string Banner(const ServerConfig& c, int grpc_port, int http_port) {
  const auto host = [](const std::string& addr) { return addr.substr(0, addr.rfind(':') + 1); };
  return absl::StrCat(
      "faultlab-server: ",
      c.tokens ? absl::StrCat(c.tokens->size(), " token(s)")
               : "open mode (no --tokens), loopback only",
      "; gRPC", c.tls_cert.empty() ? "" : " (TLS)", " on ", host(c.grpc_addr), grpc_port,
      "; HTTP on ", host(c.http_addr), http_port, "; ", c.replay_workers, " replay worker(s); ",
      c.postgres ? "PostgreSQL store, blobs in " + c.blob_dir : "data in " + c.data_dir);
}

// Everything served, until SIGINT or SIGTERM; the exit code.
int Serve(const ServerConfig& c, Store* store, const sigset_t& stop) {
  absl::StatusOr<std::string> worker = c.replay_worker.empty()
                                           ? Sandbox::FindWorker()
                                           : absl::StatusOr<std::string>(c.replay_worker);
  if (!worker.ok()) {
    std::cerr << "faultlab-server: " << worker.status().message() << "\n";
    return 4;
  }
  Sandbox sandbox(*worker, c.sandbox);
  ServerMetrics metrics;
  RefreshFromStore(metrics, store);
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  const int workers = static_cast<int>(c.replay_workers);
  ReplayPool pool(store, &metrics, &sandbox, workers, c.verify_every,
                  absl::StrCat(host, ":", getpid()), c.replay_lease_ms);
  RunAnalyzer analyzer(store, &metrics, c.analysis);
  for (absl::Status s : {pool.EnqueuePending(), analyzer.EnqueuePending()}) {
    if (!s.ok()) {
      std::cerr << "faultlab-server: " << s.message() << "\n";
      return 4;
    }
  }
  const Tokens* auth = c.tokens ? &*c.tokens : nullptr;
  html::WebPages pages(store, auth);
  auto http = http::Server::Start(
      c.http_addr, [&metrics] { return metrics.Scrape(); }, [store] { return Health(store); },
      pages.Routes());
  if (!http.ok()) {
    std::cerr << "faultlab-server: " << http.status().message() << "\n";
    return 4;
  }
  IngestService ingest(
      store, &metrics,
      [&pool, &analyzer](const std::string& id) {
        analyzer.Enqueue(id);
        pool.Enqueue(id);
      },
      auth, c.limits);
  QueryService query(store, auth, [&pages](const std::string& id) {
    return pages.RenderRun(absl::BytesToHexString(id), "").body;
  });
  ReplayService replay(store, &metrics, &sandbox, auth, workers,
                       static_cast<int>(c.matrix_workers));
  CompareService compare(store, auth, c.analysis);
  // The server's own listening socket (lib/rpc/listener.h: a cap on
  // connections, and no deaf listener after a flood of them).
  rpc::Listener::RaiseFileLimit();
  absl::StatusOr<std::unique_ptr<rpc::Listener>> listener =
      rpc::Listener::Bind(c.grpc_addr, {static_cast<int>(c.max_connections)});
  if (!listener.ok()) {
    std::cerr << "faultlab-server: " << listener.status().message() << "\n";
    return 4;
  }
  grpc::ServerBuilder builder;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor =
      builder.experimental().AddExternalConnectionAcceptor(
          grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, Credentials(c));
  builder.SetMaxReceiveMessageSize(static_cast<int>(c.max_message_bytes));
  // What a peer can make the server hold: a resource quota (threads for
  // calls, memory for connections), streams per connection, idle
  // connections. Under an HTTP/2 "rapid reset" flood of 20,000 streams the
  // server peaks at 282 threads instead of 6,655 (docs/security.md).
  grpc::ResourceQuota quota("faultlab-server");
  quota.SetMaxThreads(kRpcThreads);
  quota.Resize(kRpcMemoryBytes);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kStreamsPerConnection);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, kHandshakeMs);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, kIdleConnectionMs);
  for (grpc::Service* s :
       std::initializer_list<grpc::Service*>{&ingest, &query, &replay, &compare}) {
    builder.RegisterService(s);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    std::cerr << "faultlab-server: cannot start the gRPC server on " << c.grpc_addr << "\n";
    return 4;
  }
  (*listener)->Serve(acceptor.get());
  std::cerr << Banner(c, (*listener)->port(), (*http)->port()) << "\n";
  // SIGINT/SIGTERM (blocked in every thread): kill the running replays
  // (they stay pending), stop taking streams, give running ones a second,
  // exit 0 — within 2 s whatever was running.
  // Meanwhile, every few seconds, give back to the system what malloc keeps
  // from a burst (a flood of streams leaves its threads' arenas full).
  int sig = 0;
  const timespec tick = {5, 0};
  while ((sig = sigtimedwait(&stop, nullptr, &tick)) <= 0) malloc_trim(0);
  std::cerr << "faultlab-server: signal " << sig << ", shutting down\n";
  listener->reset();
  pool.Stop();
  analyzer.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}

int Main(int argc, char** argv) {
  // Blocked before gRPC starts its threads, so that only sigwait() sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  absl::StatusOr<ServerConfig> c = ParseServerConfig(argc, argv);
  if (!c.ok()) {
    std::cerr << "faultlab-server: " << c.status().message() << "\n" << kUsage;
    return 2;
  }
  if (c->help) {
    std::cout << kUsage;
    return 0;
  }
  if (!c->profile_dir.empty()) {
    // Here (what-ifs are checked on arrival) and in every replay worker.
    profiles::SetProfileDir(c->profile_dir);
    setenv("FAULTLAB_PROFILE_DIR", c->profile_dir.c_str(), 1);
  }
  if (c->migrate_to != 0) {
    if (absl::Status s = PgStore::MigrateTo(c->pg, static_cast<int>(c->migrate_to)); !s.ok()) {
      std::cerr << "faultlab-server: " << s.message() << "\n";
      return 4;
    }
    std::cerr << "faultlab-server: schema at version " << c->migrate_to << " (at least)\n";
    return 0;
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenStore(*c);
  if (!store.ok()) {
    std::cerr << "faultlab-server: " << store.status().message() << "\n";
    return 4;
  }
  return Serve(*c, store->get(), stop);
}

}  // namespace
}  // namespace faultlab::server

int main(int argc, char** argv) { return faultlab::server::Main(argc, argv); }
