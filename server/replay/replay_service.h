// ReplayService: a stored trace replayed on request — plainly, or under every
// cell of a what-if matrix (proto/ingest.proto, service Replay) — with
// progress streamed and each cell's result stored (a repeated request is
// answered from the store). Each cell replays in a sandboxed worker
// (sandbox.h). At most `slots` requests replay at once; more are refused
// with RESOURCE_EXHAUSTED rather than queued behind a long one.
#ifndef FAULTLAB_SERVER_REPLAY_REPLAY_SERVICE_H_
#define FAULTLAB_SERVER_REPLAY_REPLAY_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>

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
                int slots)
      : store_(store), metrics_(metrics), sandbox_(sandbox), tokens_(tokens), slots_(slots) {}
  grpc::Status Run(grpc::ServerContext* ctx, const api::ReplayRequest* req,
                   grpc::ServerWriter<api::ReplayUpdate>* out) override;

 private:
  Store* store_;
  ServerMetrics* metrics_;
  Sandbox* sandbox_;
  const Tokens* tokens_;
  std::atomic<int> slots_;
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_REPLAY_REPLAY_SERVICE_H_
