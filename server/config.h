// faultlab-server's command line, checked and turned into its settings
// (docs/deploy.md, docs/security.md). Every problem is a usage error.
#ifndef FAULTLAB_SERVER_CONFIG_H_
#define FAULTLAB_SERVER_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/auth/tokens.h"
#include "server/ingest/ingest_service.h"
#include "server/regress/analyzer.h"
#include "server/replay/sandbox.h"

namespace faultlab::server {

extern const char kUsage[];

struct ServerConfig {
  bool help = false;
  std::string profile_dir;  // --profile-dir
  // The store: SQLite in data_dir, or PostgreSQL (pg) with blobs in blob_dir.
  bool postgres = false;
  std::string data_dir, pg, blob_dir;
  uint64_t migrate_to = 0;  // nonzero: migrate the PostgreSQL schema and exit
  std::string grpc_addr = "127.0.0.1:7400";
  std::string http_addr = "127.0.0.1:7401";
  std::optional<Tokens> tokens;   // none: open mode, loopback only
  std::string tls_cert, tls_key;  // PEM contents; empty: plaintext
  uint64_t replay_workers = 1;
  // Cells of one what-if matrix replayed at once (default: the machine's cores).
  uint64_t matrix_workers = 0;
  uint64_t verify_every = 10;
  uint64_t replay_lease_ms = 60000;
  uint64_t max_message_bytes = 72ULL << 20;
  uint64_t max_connections = 4096;  // gRPC connections held at once (lib/rpc/listener.h)
  // Replays run in sandboxed workers (replay/sandbox.h).
  std::string replay_worker;  // empty: faultlab-replay-worker beside the server
  SandboxPolicy sandbox;
  AnalyzerOptions analysis;
  IngestLimits limits;
};

// INVALID_ARGUMENT naming the flag that is wrong (the caller exits 2).
absl::StatusOr<ServerConfig> ParseServerConfig(int argc, char** argv);

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_CONFIG_H_
