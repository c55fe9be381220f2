// faultlab-server: ingest of traces over gRPC into the durable store.
// (Replay workers, Query/Replay/Compare, regressions, /metrics and tokens
// follow: issue 7.)
//
//   faultlab-server --data-dir DIR [--grpc-addr HOST:PORT]
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <chrono>
#include <iostream>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/auth/tokens.h"
#include "cli/args.h"
#include "server/ingest/ingest_service.h"
#include "server/metrics/http.h"
#include "server/query/query_service.h"
#include "server/metrics/metrics.h"
#include "server/replay/worker.h"
#include "server/store/sqlite_store.h"

namespace {

constexpr char kUsage[] =
    "usage: faultlab-server --data-dir DIR [--grpc-addr HOST:PORT] [--http-addr HOST:PORT]\n"
    "                       [--replay-workers N] [--verify-every N]\n"
    "  --data-dir DIR        where traces are stored (created if missing; docs/store.md)\n"
    "  --grpc-addr HOST:PORT gRPC ingest (default 127.0.0.1:7400)\n"
    "  --http-addr HOST:PORT /metrics and /healthz (default 127.0.0.1:7401)\n"
    "  --replay-workers N    threads replaying completed traces (default 1)\n"
    "  --verify-every N      replay every Nth trace twice and compare (default 10; 0: never)\n"
    "  --tokens FILE         'agent TOKEN' (may upload) / 'operator TOKEN' (everything) lines;\n"
    "                        clients send --token. Without it the server runs open, on\n"
    "                        loopback addresses only (docs/security.md)\n";

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
  faultlab::cli::Args args;
  args.Declare("data-dir", true);
  args.Declare("grpc-addr", true);
  args.Declare("http-addr", true);
  args.Declare("tokens", true);
  args.Declare("replay-workers", true);
  args.Declare("verify-every", true);
  args.Declare("help", false, 'h');
  if (absl::Status s = args.Parse(argc - 1, argv + 1); !s.ok()) {
    std::cerr << "faultlab-server: " << s.message() << "\n" << kUsage;
    return 2;
  }
  if (args.Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (!args.Has("data-dir") || !args.positional().empty()) {
    std::cerr << "faultlab-server: " << (args.Has("data-dir") ? "unexpected argument" : "missing --data-dir DIR")
              << "\n" << kUsage;
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
  auto store = faultlab::server::SqliteStore::Open(args.Get("data-dir"));
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
  faultlab::server::ServerMetrics metrics;
  faultlab::server::ReplayPool pool(store->get(), &metrics, static_cast<int>(workers), verify_every);
  if (absl::Status s = pool.EnqueuePending(); !s.ok()) {
    std::cerr << "faultlab-server: " << s.message() << "\n";
    return 4;
  }
  auto http = faultlab::server::HttpServer::Start(http_addr, &metrics, [] { return std::string(); });
  if (!http.ok()) {
    std::cerr << "faultlab-server: " << http.status().message() << "\n";
    return 4;
  }
  faultlab::server::IngestService ingest(store->get(), &metrics,
                                         [&pool](const std::string& id) { pool.Enqueue(id); },
                                         tokens ? &*tokens : nullptr);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(addr, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(80 << 20);  // a 64 MiB frame and its envelope
  faultlab::server::QueryService query(store->get(), tokens ? &*tokens : nullptr);
  builder.RegisterService(&ingest);
  builder.RegisterService(&query);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::cerr << "faultlab-server: cannot listen on " << addr << "\n";
    return 4;
  }
  std::cerr << "faultlab-server: "
            << (tokens ? absl::StrCat(tokens->size(), " token(s)") : "open mode (no --tokens), loopback only")
            << "; gRPC on "
            << addr.substr(0, addr.rfind(':') + 1) << port << "; HTTP on "
            << http_addr.substr(0, http_addr.rfind(':') + 1) << (*http)->port() << "; "
            << workers << " replay worker(s); data in " << args.Get("data-dir") << "\n";
  // SIGINT/SIGTERM (blocked above, in every thread): stop taking streams,
  // let running ones end, exit 0.
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << "faultlab-server: signal " << sig << ", shutting down\n";
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return 0;
}
