// faultlab-server: gRPC ingest into the durable store, replay workers, runs
// and regression verdicts, Query/Replay/Compare, /metrics and /healthz
// (DESIGN "Services"; docs/store.md, docs/metrics.md, docs/regressions.md,
// docs/security.md).
//
//   faultlab-server --data-dir DIR [--grpc-addr HOST:PORT] [--http-addr HOST:PORT] ...
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/auth/tokens.h"
#include "lib/args/args.h"
#include "server/ingest/ingest_service.h"
#include "server/html/pages.h"
#include "lib/http/http.h"
#include "server/query/query_service.h"
#include "server/metrics/metrics.h"
#include "server/regress/analyzer.h"
#include "server/regress/compare_service.h"
#include "server/replay/replay_service.h"
#include "server/replay/worker.h"
#include "server/store/pg_store.h"
#include "server/store/sqlite_store.h"

namespace {

constexpr char kUsage[] =
    "usage: faultlab-server --data-dir DIR [--grpc-addr HOST:PORT] [--http-addr HOST:PORT]\n"
    "                       [--replay-workers N] [--verify-every N] ...\n"
    "       faultlab-server --store=postgres --pg CONNINFO --blob-dir DIR ...\n"
    "  --data-dir DIR        where traces are stored (created if missing; docs/store.md)\n"
    "  --store sqlite|postgres  the embedded store in --data-dir (default), or PostgreSQL shared\n"
    "                        by several replicas (docs/deploy.md)\n"
    "  --pg CONNINFO         with --store=postgres: a libpq connection string\n"
    "  --blob-dir DIR        with --store=postgres: the trace blobs, on storage every replica mounts\n"
    "  --replay-lease-ms N   how long a claimed replay stays this replica's before another may take\n"
    "                        it over (default 60000)\n"
    "  --migrate-to N        apply the store's schema migrations up to version N and exit\n"
    "  --grpc-addr HOST:PORT gRPC ingest (default 127.0.0.1:7400)\n"
    "  --http-addr HOST:PORT /metrics and /healthz (default 127.0.0.1:7401)\n"
    "  --replay-workers N    threads replaying completed traces (default 1)\n"
    "  --verify-every N      replay every Nth trace twice and compare (default 10; 0: never)\n"
    "  --tokens FILE         'agent TOKEN' (may upload) / 'operator TOKEN' (everything) lines;\n"
    "                        clients send --token. Without it the server runs open, on\n"
    "                        loopback addresses only (docs/security.md)\n"
    "  --tls-cert FILE --tls-key FILE\n"
    "                        serve gRPC over TLS with this certificate chain and key (PEM)\n"
    "  --baseline-runs N     a run is judged against the previous N runs of its series\n"
    "                        (default 5, at least 5; docs/regressions.md)\n"
    "  --max-streams-per-agent N  upload streams one agent (token, or address) may hold open\n"
    "                        (default 32; 0: no limit)\n"
    "  --max-message-bytes N largest gRPC message taken (default 72 MiB)\n"
    "  --max-chunk-bytes N   largest trace chunk frame taken (default 64 MiB)\n";

// A whole file, or nullopt.
std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  if (!in || s.str().empty()) return std::nullopt;
  return s.str();
}

bool IsLoopback(const std::string& addr) {
  return absl::StartsWith(addr, "127.") || absl::StartsWith(addr, "localhost:") ||
         absl::StartsWith(addr, "[::1]:");
}


}  // namespace

int main(int argc, char** argv) {
  // Blocked before gRPC starts its threads, so that only sigwait() sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  faultlab::args::Args args;
  args.Declare("data-dir", true);
  args.Declare("grpc-addr", true);
  args.Declare("http-addr", true);
  args.Declare("tokens", true);
  args.Declare("replay-workers", true);
  args.Declare("verify-every", true);
  for (const char* f : {"store", "pg", "blob-dir", "replay-lease-ms", "migrate-to", "tls-cert", "tls-key", "baseline-runs", "max-streams-per-agent",
                        "max-message-bytes", "max-chunk-bytes"}) {
    args.Declare(f, true);
  }
  args.Declare("help", false, 'h');
  if (absl::Status s = args.Parse(argc - 1, argv + 1); !s.ok()) {
    std::cerr << "faultlab-server: " << s.message() << "\n" << kUsage;
    return 2;
  }
  if (args.Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  const std::string store_kind = args.Get("store", "sqlite");
  if (store_kind != "sqlite" && store_kind != "postgres") {
    std::cerr << "faultlab-server: --store '" << store_kind << "': sqlite or postgres\n" << kUsage;
    return 2;
  }
  if (!args.positional().empty()) {
    std::cerr << "faultlab-server: unexpected argument\n" << kUsage;
    return 2;
  }
  if (store_kind == "sqlite" && !args.Has("data-dir")) {
    std::cerr << "faultlab-server: missing --data-dir DIR\n" << kUsage;
    return 2;
  }
  if (store_kind == "postgres" && (!args.Has("pg") || !args.Has("blob-dir"))) {
    std::cerr << "faultlab-server: --store=postgres needs --pg CONNINFO and --blob-dir DIR\n" << kUsage;
    return 2;
  }
  std::optional<faultlab::server::Tokens> tokens;
  if (args.Has("tokens")) {
    auto t = faultlab::server::Tokens::Load(args.Get("tokens"));
    if (!t.ok()) {
      std::cerr << "faultlab-server: --tokens: " << t.status().message() << "\n";
      return 2;
    }
    tokens = std::move(*t);
  }
  const std::string addr = args.Get("grpc-addr", "127.0.0.1:7400");
  if (!tokens && !IsLoopback(addr)) {
    std::cerr << "faultlab-server: refusing to listen on " << addr
              << " without --tokens: open mode is for loopback addresses only\n";
    return 2;
  }
  if (args.Has("migrate-to")) {
    uint64_t to = 0;
    if (!args.GetUint("migrate-to", &to).ok() || store_kind != "postgres" || to == 0 ||
        to > static_cast<uint64_t>(faultlab::server::PgStore::SchemaVersion())) {
      std::cerr << "faultlab-server: --migrate-to N: with --store=postgres, N in 1.."
                << faultlab::server::PgStore::SchemaVersion() << "\n";
      return 2;
    }
    if (absl::Status s = faultlab::server::PgStore::MigrateTo(args.Get("pg"), static_cast<int>(to)); !s.ok()) {
      std::cerr << "faultlab-server: " << s.message() << "\n";
      return 4;
    }
    std::cerr << "faultlab-server: schema at version " << to << " (at least)\n";
    return 0;
  }
  absl::StatusOr<std::unique_ptr<faultlab::server::Store>> store;
  if (store_kind == "postgres") {
    auto pg = faultlab::server::PgStore::Open(args.Get("pg"), args.Get("blob-dir"));
    if (pg.ok()) store = std::unique_ptr<faultlab::server::Store>(std::move(*pg));
    else store = pg.status();
  } else {
    auto sq = faultlab::server::SqliteStore::Open(args.Get("data-dir"));
    if (sq.ok()) store = std::unique_ptr<faultlab::server::Store>(std::move(*sq));
    else store = sq.status();
  }
  if (!store.ok()) {
    std::cerr << "faultlab-server: " << store.status().message() << "\n";
    return 4;
  }
  uint64_t workers = 1, verify_every = 10;
  if (absl::Status s = args.GetUint("replay-workers", &workers); !s.ok() || workers == 0 || workers > 64) {
    std::cerr << "faultlab-server: --replay-workers: want 1..64\n" << kUsage;
    return 2;
  }
  if (absl::Status s = args.GetUint("verify-every", &verify_every); !s.ok()) {
    std::cerr << "faultlab-server: " << s.message() << "\n" << kUsage;
    return 2;
  }
  const std::string http_addr = args.Get("http-addr", "127.0.0.1:7401");
  if (!tokens && !IsLoopback(http_addr)) {
    std::cerr << "faultlab-server: refusing to serve HTTP on " << http_addr
              << " without --tokens: open mode is for loopback addresses only\n";
    return 2;
  }
  faultlab::server::AnalyzerOptions analysis;
  faultlab::server::IngestLimits limits;
  limits.streams_per_agent = 32;
  uint64_t max_message = 72ULL << 20;
  if (absl::Status s = args.GetUint("baseline-runs", &analysis.baseline_runs);
      !s.ok() || analysis.baseline_runs < 5 || analysis.baseline_runs > 1000) {
    std::cerr << "faultlab-server: --baseline-runs: want 5..1000\n" << kUsage;
    return 2;
  }
  for (auto [flag, out] : {std::pair<const char*, uint64_t*>{"max-streams-per-agent",
                                                             &limits.streams_per_agent},
                           {"max-message-bytes", &max_message},
                           {"max-chunk-bytes", &limits.chunk_bytes}}) {
    if (absl::Status s = args.GetUint(flag, out); !s.ok()) {
      std::cerr << "faultlab-server: " << s.message() << "\n" << kUsage;
      return 2;
    }
  }
  if (max_message < 4096 || max_message > (1ULL << 30) || limits.chunk_bytes == 0) {
    std::cerr << "faultlab-server: --max-message-bytes: want 4096..1 GiB; --max-chunk-bytes: > 0\n";
    return 2;
  }
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (args.Has("tls-cert") != args.Has("tls-key")) {
    std::cerr << "faultlab-server: --tls-cert and --tls-key go together\n" << kUsage;
    return 2;
  }
  if (args.Has("tls-cert")) {
    std::optional<std::string> cert = ReadFile(args.Get("tls-cert"));
    std::optional<std::string> key = ReadFile(args.Get("tls-key"));
    if (!cert || !key) {
      std::cerr << "faultlab-server: cannot read " << (cert ? "--tls-key " + args.Get("tls-key")
                                                            : "--tls-cert " + args.Get("tls-cert"))
                << "\n";
      return 2;
    }
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    creds = grpc::SslServerCredentials(ssl);
  }
  faultlab::server::ServerMetrics metrics;
  metrics.set_refresh([&metrics, st = store->get()] {
    metrics.store_bytes(st->Identity()).Set(static_cast<double>(st->SizeBytes()));
    // Shared by every replica on the store: read here, once per scrape.
    if (auto pending = st->PendingReplays(); pending.ok()) {
      metrics.replay_queue_depth().Set(static_cast<double>(pending->size()));
    }
  });
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  uint64_t lease_ms = 60000;
  if (absl::Status s = args.GetUint("replay-lease-ms", &lease_ms); !s.ok() || lease_ms < 100) {
    std::cerr << "faultlab-server: --replay-lease-ms: want at least 100\n" << kUsage;
    return 2;
  }
  faultlab::server::ReplayPool pool(store->get(), &metrics, static_cast<int>(workers), verify_every,
                                    absl::StrCat(host, ":", getpid()), lease_ms);
  if (absl::Status s = pool.EnqueuePending(); !s.ok()) {
    std::cerr << "faultlab-server: " << s.message() << "\n";
    return 4;
  }
  faultlab::html::WebPages pages(store->get(), tokens ? &*tokens : nullptr);
  auto http = faultlab::http::Server::Start(
      http_addr, [&metrics] { return metrics.Scrape(); }, [] { return std::string(); }, pages.Routes());
  if (!http.ok()) {
    std::cerr << "faultlab-server: " << http.status().message() << "\n";
    return 4;
  }
  faultlab::server::RunAnalyzer analyzer(store->get(), &metrics, analysis);
  if (absl::Status s = analyzer.EnqueuePending(); !s.ok()) {
    std::cerr << "faultlab-server: " << s.message() << "\n";
    return 4;
  }
  const faultlab::server::Tokens* auth = tokens ? &*tokens : nullptr;
  faultlab::server::IngestService ingest(
      store->get(), &metrics,
      [&pool, &analyzer](const std::string& id) {
        analyzer.Enqueue(id);
        pool.Enqueue(id);
      },
      auth, limits);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(addr, creds, &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message));
  faultlab::server::QueryService query(store->get(), auth, [&pages](const std::string& id) {
    return pages.RenderRun(absl::BytesToHexString(id), "").body;
  });
  faultlab::server::ReplayService replay(store->get(), &metrics, auth, static_cast<int>(workers));
  faultlab::server::CompareService compare(store->get(), auth, analysis);
  builder.RegisterService(&ingest);
  builder.RegisterService(&query);
  builder.RegisterService(&replay);
  builder.RegisterService(&compare);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "faultlab-server: cannot listen on " << addr << "\n";
    return 4;
  }
  std::cerr << "faultlab-server: "
            << (tokens ? absl::StrCat(tokens->size(), " token(s)") : "open mode (no --tokens), loopback only")
            << "; gRPC" << (args.Has("tls-cert") ? " (TLS)" : "") << " on "
            << addr.substr(0, addr.rfind(':') + 1) << port << "; HTTP on "
            << http_addr.substr(0, http_addr.rfind(':') + 1) << (*http)->port() << "; "
            << workers << " replay worker(s); "
            << (store_kind == "postgres" ? "PostgreSQL store, blobs in " + args.Get("blob-dir")
                                         : "data in " + args.Get("data-dir"))
            << "\n";
  // SIGINT/SIGTERM (blocked above, in every thread): stop taking streams,
  // let running ones end, exit 0.
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << "faultlab-server: signal " << sig << ", shutting down\n";
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}
