#include "server/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/replay/what_if.h"
#include "lib/args/args.h"
#include "lib/http/http.h"
#include "server/store/pg_store.h"

namespace faultlab::server {

const char kUsage[] =
    "usage: faultlab-server --data-dir DIR [--grpc-addr HOST:PORT] [--http-addr HOST:PORT]\n"
    "                       [--replay-workers N] [--verify-every N] ...\n"
    "       faultlab-server --store=postgres --pg CONNINFO --blob-dir DIR ...\n"
    "  --data-dir DIR        where traces are stored (created if missing; docs/store.md)\n"
    "  --store sqlite|postgres  the embedded store in --data-dir (default), or PostgreSQL shared\n"
    "                        by several replicas (docs/deploy.md)\n"
    "  --pg CONNINFO         with --store=postgres: a libpq connection string\n"
    "  --blob-dir DIR        with --store=postgres: the trace blobs, on storage every replica "
    "mounts\n"
    "  --replay-lease-ms N   how long a claimed replay stays this replica's before another may "
    "take\n"
    "                        it over (default 60000)\n"
    "  --migrate-to N        apply the store's schema migrations up to version N and exit\n"
    "  --grpc-addr HOST:PORT gRPC ingest (default 127.0.0.1:7400)\n"
    "  --http-addr HOST:PORT /metrics and /healthz (default 127.0.0.1:7401)\n"
    "  --replay-workers N    threads replaying completed traces (default 1)\n"
    "  --matrix-workers N    cells of one what-if matrix replayed at once, each in a worker\n"
    "                        process (default: the machine's cores)\n"
    "  --profile-dir DIR     profiles looked up there first: what-if profile= may name a\n"
    "                        calibrated board's ('faultlab calibrate'; a trace recorded on\n"
    "                        one carries it anyway)\n"
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
    "  --max-chunk-bytes N   largest trace chunk frame taken (default 64 MiB)\n"
    "  --max-upload-bytes-per-hour SIZE  chunk bytes one agent (token, or address) may send\n"
    "                        in an hour (default 16G; 0: no limit); past it, RESOURCE_EXHAUSTED\n"
    "  --replay-max-rss SIZE a replay worker's own resident memory limit (default 2G; not the\n"
    "                        trace it maps): past it the replay ends as an error (memory_limit;\n"
    "                        docs/security.md)\n"
    "  --replay-cpu-limit S  a replay worker's CPU seconds: S + 10 per MiB of trace, at most\n"
    "                        3600 (default S = 60); past it the replay ends as an error "
    "(cpu_limit)\n"
    "  --replay-worker PATH  the faultlab-replay-worker binary (default: beside this one)\n"
    "  --max-connections N   gRPC connections held at once (default 4096; fewer if the open-file\n"
    "                        limit says so); more wait in the listen queue\n";

namespace {

absl::Status Usage(const std::string& problem) { return absl::InvalidArgumentError(problem); }

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

// --store and where it lives; --migrate-to.
absl::Status StorePart(const args::Args& args, ServerConfig* c) {
  const std::string kind = args.Get("store", "sqlite");
  if (kind != "sqlite" && kind != "postgres")
    return Usage(absl::StrCat("--store '", kind, "': sqlite or postgres"));
  c->postgres = kind == "postgres";
  c->data_dir = args.Get("data-dir");
  c->pg = args.Get("pg");
  c->blob_dir = args.Get("blob-dir");
  if (!c->postgres && c->data_dir.empty()) return Usage("missing --data-dir DIR");
  if (c->postgres && (c->pg.empty() || c->blob_dir.empty())) {
    return Usage("--store=postgres needs --pg CONNINFO and --blob-dir DIR");
  }
  if (args.Has("migrate-to")) {
    const uint64_t newest = static_cast<uint64_t>(PgStore::SchemaVersion());
    if (!args.GetUint("migrate-to", &c->migrate_to).ok() || !c->postgres || c->migrate_to == 0 ||
        c->migrate_to > newest) {
      return Usage(absl::StrCat("--migrate-to N: with --store=postgres, N in 1..", newest));
    }
  }
  return absl::OkStatus();
}

// Who may talk to it, where, and over what.
absl::Status AccessPart(const args::Args& args, ServerConfig* c) {
  if (args.Has("tokens")) {
    absl::StatusOr<Tokens> t = Tokens::Load(args.Get("tokens"));
    if (!t.ok()) return Usage(absl::StrCat("--tokens: ", t.status().message()));
    c->tokens = std::move(*t);
  }
  c->grpc_addr = args.Get("grpc-addr", c->grpc_addr);
  c->http_addr = args.Get("http-addr", c->http_addr);
  for (auto [flag, addr] : {std::pair<const char*, const std::string&>{"grpc-addr", c->grpc_addr},
                            {"http-addr", c->http_addr}}) {
    // One address each: a list ("127.0.0.1:A,0.0.0.0:B") would slip past
    // the open-mode check below.
    if (!http::IsHostPort(addr)) {
      return Usage(absl::StrCat("--", flag, " '", addr,
                                "': expected one HOST:PORT (an IPv4 address, [IPv6] or "
                                "localhost)"));
    }
    if (!c->tokens && !IsLoopback(addr)) {
      return Usage(absl::StrCat("--", flag, ": refusing to listen on ", addr,
                                " without --tokens: open mode is for loopback addresses only"));
    }
  }
  if (args.Has("tls-cert") != args.Has("tls-key"))
    return Usage("--tls-cert and --tls-key go together");
  if (args.Has("tls-cert")) {
    std::optional<std::string> cert = ReadFile(args.Get("tls-cert"));
    std::optional<std::string> key = ReadFile(args.Get("tls-key"));
    if (!cert || !key) {
      return Usage(absl::StrCat("cannot read ", cert ? "--tls-key " + args.Get("tls-key")
                                                     : "--tls-cert " + args.Get("tls-cert")));
    }
    c->tls_cert = *cert;
    c->tls_key = *key;
  }
  return absl::OkStatus();
}

// Replay workers, analysis and ingest limits.
absl::Status WorkPart(const args::Args& args, ServerConfig* c) {
  if (!args.GetUint("replay-workers", &c->replay_workers).ok() || c->replay_workers == 0 ||
      c->replay_workers > 64) {
    return Usage("--replay-workers: want 1..64");
  }
  c->matrix_workers = std::max(1u, std::thread::hardware_concurrency());
  if (!args.GetUint("matrix-workers", &c->matrix_workers).ok() || c->matrix_workers == 0 ||
      c->matrix_workers > 64) {
    return Usage("--matrix-workers: want 1..64");
  }
  if (absl::Status s = args.GetUint("verify-every", &c->verify_every); !s.ok()) return s;
  if (!args.GetUint("replay-lease-ms", &c->replay_lease_ms).ok() || c->replay_lease_ms < 100) {
    return Usage("--replay-lease-ms: want at least 100");
  }
  if (!args.GetUint("baseline-runs", &c->analysis.baseline_runs).ok() ||
      c->analysis.baseline_runs < 5 || c->analysis.baseline_runs > 1000) {
    return Usage("--baseline-runs: want 5..1000");
  }
  c->limits.streams_per_agent = 32;
  for (auto [flag, out] :
       {std::pair<const char*, uint64_t*>{"max-streams-per-agent", &c->limits.streams_per_agent},
        {"max-message-bytes", &c->max_message_bytes},
        {"max-chunk-bytes", &c->limits.chunk_bytes}}) {
    if (absl::Status s = args.GetUint(flag, out); !s.ok()) return s;
  }
  if (c->max_message_bytes < 4096 || c->max_message_bytes > (1ULL << 30) ||
      c->limits.chunk_bytes == 0) {
    return Usage("--max-message-bytes: want 4096..1 GiB; --max-chunk-bytes: > 0");
  }
  return absl::OkStatus();
}

// A SIZE flag ("16G", "0"), if given.
absl::Status GetSize(const args::Args& args, const char* flag, uint64_t* out) {
  if (!args.Has(flag)) return absl::OkStatus();
  absl::StatusOr<uint64_t> v = replay::ParseSize(args.Get(flag));
  if (!v.ok()) return Usage(absl::StrCat("--", flag, ": ", v.status().message()));
  *out = *v;
  return absl::OkStatus();
}

// What a peer or a trace may cost: upload quota, connections, the replay
// workers' limits (docs/security.md).
absl::Status BoundsPart(const args::Args& args, ServerConfig* c) {
  c->limits.bytes_per_hour = 16ULL << 30;
  if (absl::Status s = GetSize(args, "max-upload-bytes-per-hour", &c->limits.bytes_per_hour);
      !s.ok()) {
    return s;
  }
  if (!args.GetUint("max-connections", &c->max_connections).ok() || c->max_connections < 16 ||
      c->max_connections > 1000000) {
    return Usage("--max-connections: want 16..1000000");
  }
  if (absl::Status s = GetSize(args, "replay-max-rss", &c->sandbox.rss_bytes); !s.ok()) return s;
  if (c->sandbox.rss_bytes < (64ULL << 20)) return Usage("--replay-max-rss: want at least 64M");
  if (!args.GetUint("replay-cpu-limit", &c->sandbox.cpu_base_seconds).ok() ||
      c->sandbox.cpu_base_seconds == 0 ||
      c->sandbox.cpu_base_seconds > c->sandbox.cpu_max_seconds) {
    return Usage(absl::StrCat("--replay-cpu-limit: want 1..", c->sandbox.cpu_max_seconds));
  }
  c->replay_worker = args.Get("replay-worker");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServerConfig> ParseServerConfig(int argc, char** argv) {
  args::Args args;
  for (const char* f : {"data-dir",
                        "grpc-addr",
                        "http-addr",
                        "tokens",
                        "replay-workers",
                        "matrix-workers",
                        "verify-every",
                        "store",
                        "pg",
                        "blob-dir",
                        "replay-lease-ms",
                        "migrate-to",
                        "tls-cert",
                        "tls-key",
                        "baseline-runs",
                        "max-streams-per-agent",
                        "max-message-bytes",
                        "max-chunk-bytes",
                        "replay-max-rss",
                        "replay-cpu-limit",
                        "replay-worker",
                        "max-upload-bytes-per-hour",
                        "max-connections",
                        "profile-dir"}) {
    args.Declare(f, true);
  }
  args.Declare("help", false, 'h');
  if (absl::Status s = args.Parse(argc - 1, argv + 1); !s.ok())
    return Usage(std::string(s.message()));
  ServerConfig c;
  if (args.Has("help")) {
    c.help = true;
    return c;
  }
  if (!args.positional().empty()) return Usage("unexpected argument");
  c.profile_dir = args.Get("profile-dir");
  for (auto part : {StorePart, AccessPart, WorkPart, BoundsPart}) {
    if (absl::Status s = part(args, &c); !s.ok()) return Usage(std::string(s.message()));
  }
  return c;
}

}  // namespace faultlab::server
