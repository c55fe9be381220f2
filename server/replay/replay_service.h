// ReplayService: a stored trace replayed on request — plainly, or under every
// cell of a what-if matrix (proto/ingest.proto, service Replay) — with
// progress streamed and each cell's result stored (a repeated request is
// answered from the store). Each cell replays in a sandboxed worker
// (sandbox.h); a matrix's cells run `matrix_workers` at a time, each in a
// worker of its own over the same stored file, their results streamed as
// they finish (each names its cell). At most `slots` requests replay at
// once; more are refused with RESOURCE_EXHAUSTED rather than queued behind
// a long one.
#ifndef FAULTLAB_SERVER_REPLAY_REPLAY_SERVICE_H_
#define FAULTLAB_SERVER_REPLAY_REPLAY_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>

#include "proto/ingest.grpc.pb.h"
#include "server/auth/tokens.h"
#include "server/metrics/metrics.h"
#include "server/replay/sandbox.h"
#include "server/store/store.h"

namespace faultlab::server {

class ReplayService final : public api::Replay::Service {
 public:
  static constexpr uint64_t kMaxCells = 64;
  ReplayService(Store* store, ServerMetrics* metrics, Sandbox* sandbox, const Tokens* tokens,
                int slots, int matrix_workers = 1)
      : store_(store),
        metrics_(metrics),
        sandbox_(sandbox),
        tokens_(tokens),
        slots_(slots),
        matrix_workers_(matrix_workers) {}
  grpc::Status Run(grpc::ServerContext* ctx, const api::ReplayRequest* req,
                   grpc::ServerWriter<api::ReplayUpdate>* out) override;

 private:
  // One request's matrix, shared by the threads running its cells.
  struct Matrix {
    const api::ReplayRequest* req = nullptr;
    std::string name, mode;
    uint64_t cells = 0;
    const Store::StoredFile* file = nullptr;
    std::optional<BoardProfileRecord> board_costs;  // calibration.h, looked up once
    grpc::ServerContext* ctx = nullptr;
    grpc::ServerWriter<api::ReplayUpdate>* out = nullptr;  // one writer at a time (mu)
    std::atomic<uint64_t> next{0};                         // the next cell to run
    std::atomic<uint64_t> inputs{0};                       // replayed so far, every cell
    std::atomic<bool> failed{false};
    std::mutex mu;
    grpc::Status status;  // the first failure (under mu)
    bool Write(const api::ReplayUpdate& u);
    void Fail(const grpc::Status& s);
  };
  void RunCells(Matrix* m);
  grpc::Status RunCell(Matrix* m, uint64_t cell);

  Store* store_;
  ServerMetrics* metrics_;
  Sandbox* sandbox_;
  const Tokens* tokens_;
  std::atomic<int> slots_;
  const int matrix_workers_;
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_REPLAY_REPLAY_SERVICE_H_
