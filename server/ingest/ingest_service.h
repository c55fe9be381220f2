// IngestService: the gRPC side of uploads (proto/ingest.proto) over a Store.
// Each stream: the head -> BeginTrace -> Resume; then each chunk ->
// AppendChunk -> its ack, only once the store says it is durable. A store
// error ends the stream with the store's status code and message; nothing
// after the last ack was stored.
#ifndef FAULTLAB_SERVER_INGEST_INGEST_SERVICE_H_
#define FAULTLAB_SERVER_INGEST_INGEST_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "proto/ingest.grpc.pb.h"
#include "server/auth/tokens.h"
#include "server/metrics/metrics.h"
#include "server/store/store.h"

namespace faultlab::server {

struct IngestLimits {
  // Upload streams open at once per agent (its token; in open mode its
  // address); 0: no limit. More are refused with RESOURCE_EXHAUSTED.
  uint64_t streams_per_agent = 0;
  // The largest chunk frame taken (a trace's own limit is 64 MiB).
  uint64_t chunk_bytes = 64ULL << 20;
  // Chunk bytes one agent may send in an hour (a token bucket refilled
  // continuously); 0: no limit. Past it, RESOURCE_EXHAUSTED (the agent
  // backs off and resumes).
  uint64_t bytes_per_hour = 0;
};

class IngestService final : public api::Ingest::Service {
 public:
  // `metrics` may be null; `on_complete` (may be empty) hears of each trace an
  // upload completed.
  explicit IngestService(Store* store, ServerMetrics* metrics = nullptr,
                         std::function<void(const std::string&)> on_complete = {},
                         const Tokens* tokens = nullptr, IngestLimits limits = {})
      : store_(store),
        metrics_(metrics),
        on_complete_(std::move(on_complete)),
        tokens_(tokens),
        limits_(limits) {}

  grpc::Status Upload(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<api::UploadResponse, api::UploadRequest>* stream) override;

  uint64_t chunks_acked() const { return chunks_acked_.load(std::memory_order_relaxed); }
  uint64_t active_streams() const { return active_.load(std::memory_order_relaxed); }

 private:
  // Ends a stream; a refusal counts under `reason` (docs/metrics.md).
  grpc::Status End(const grpc::Status& s, const char* reason);
  // Who an agent is, for its limits: its token, or its address.
  std::string AgentOf(const grpc::ServerContext& ctx) const;
  // Takes `bytes` from the agent's hourly quota; false when it has not got them.
  bool Spend(const std::string& agent, uint64_t bytes);

  Store* store_;
  ServerMetrics* metrics_;
  std::function<void(const std::string&)> on_complete_;
  const Tokens* tokens_;  // null: open mode
  IngestLimits limits_;
  std::mutex agents_mu_;
  std::map<std::string, uint64_t> agent_streams_;
  struct Bucket {
    uint64_t bytes;    // left to spend
    uint64_t when_ns;  // CLOCK_MONOTONIC at the last refill
  };
  std::map<std::string, Bucket> agent_quota_;  // under agents_mu_
  std::atomic<uint64_t> chunks_acked_{0};
  std::atomic<uint64_t> active_{0};
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_INGEST_INGEST_SERVICE_H_
