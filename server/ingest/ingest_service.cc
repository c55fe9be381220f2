#include "server/ingest/ingest_service.h"

#include <time.h>

#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "lib/rpc/status.h"

namespace faultlab::server {

grpc::Status IngestService::End(const grpc::Status& s, const char* reason) {
  if (!s.ok() && metrics_) metrics_->Rejected(reason);
  return s;
}

// A store error's reason, from its code.
const char* StoreReason(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return "damaged";
    case absl::StatusCode::kAlreadyExists:
      return "conflict";
    case absl::StatusCode::kFailedPrecondition:
      return "out_of_order";
    case absl::StatusCode::kResourceExhausted:
      return "disk_full";
    default:
      return "store_error";
  }
}

namespace {

// What a client is told of a store error: the store's own problems (a full
// disk, a lost database) name server paths, so the client hears what
// happened and the server's log the details; problems with what the client
// sent pass through as they are.
grpc::Status ToClient(const absl::Status& s) {
  if (!absl::IsResourceExhausted(s) && !absl::IsUnavailable(s)) return rpc::ToGrpc(s);
  std::cerr << "faultlab-server: store: " << s.message() << "\n";
  return grpc::Status(
      static_cast<grpc::StatusCode>(s.code()),
      absl::IsResourceExhausted(s)
          ? "the server's disk is full: nothing past the last ack was stored; retry later"
          : "the server could not store it now: nothing past the last ack was stored; retry later");
}

}  // namespace

std::string IngestService::AgentOf(const grpc::ServerContext& ctx) const {
  if (tokens_ != nullptr) {
    auto it = ctx.client_metadata().find("authorization");
    if (it != ctx.client_metadata().end()) return std::string(it->second.data(), it->second.size());
  }
  // "ipv4:127.0.0.1:5555" -> "ipv4:127.0.0.1"
  const std::string peer = ctx.peer();
  return peer.substr(0, peer.rfind(':'));
}

bool IngestService::Spend(const std::string& agent, uint64_t bytes) {
  if (limits_.bytes_per_hour == 0) return true;
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  constexpr unsigned __int128 kHourNs = 3'600'000'000'000ULL;
  std::lock_guard<std::mutex> lock(agents_mu_);
  auto [it, fresh] = agent_quota_.try_emplace(agent, Bucket{limits_.bytes_per_hour, now});
  Bucket& b = it->second;
  const unsigned __int128 refill =
      fresh ? 0
            : (now - b.when_ns) * static_cast<unsigned __int128>(limits_.bytes_per_hour) / kHourNs;
  if (refill > 0) {  // (else the time since stays counted)
    b.bytes = static_cast<uint64_t>(
        std::min<unsigned __int128>(limits_.bytes_per_hour, b.bytes + refill));
    b.when_ns = now;
  }
  if (b.bytes < bytes) return false;
  b.bytes -= bytes;
  return true;
}

grpc::Status IngestService::Upload(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<api::UploadResponse, api::UploadRequest>* stream) {
  if (grpc::Status a = Authorize(tokens_, *context, Role::kAgent); !a.ok()) {
    return End(a, a.error_code() == grpc::StatusCode::UNAUTHENTICATED ? "unauthenticated"
                                                                      : "permission_denied");
  }
  const std::string agent =
      limits_.streams_per_agent || limits_.bytes_per_hour ? AgentOf(*context) : "";
  if (limits_.streams_per_agent) {
    std::lock_guard<std::mutex> lock(agents_mu_);
    uint64_t& n = agent_streams_[agent];
    if (n >= limits_.streams_per_agent) {
      if (n == 0) agent_streams_.erase(agent);
      return End(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              absl::StrCat("too many upload streams from this agent (limit ",
                                           limits_.streams_per_agent, "); retry later")),
                 "too_many_streams");
    }
    ++n;
  }
  active_.fetch_add(1, std::memory_order_relaxed);
  if (metrics_) metrics_->active_streams().Increment();
  struct Leave {
    IngestService* s;
    const std::string& agent;
    ~Leave() {
      s->active_.fetch_sub(1, std::memory_order_relaxed);
      if (s->metrics_) s->metrics_->active_streams().Decrement();
      if (s->limits_.streams_per_agent) {
        std::lock_guard<std::mutex> lock(s->agents_mu_);
        if (--s->agent_streams_[agent] == 0) s->agent_streams_.erase(agent);
      }
    }
  } leave{this, agent};

  api::UploadRequest req;
  if (!stream->Read(&req)) {
    return End(grpc::Status(grpc::StatusCode::CANCELLED, "no head"), "cancelled");
  }
  if (req.what_case() != api::UploadRequest::kHead) {
    return End(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "an upload starts with the trace's head"),
        "protocol");
  }
  absl::StatusOr<UploadState> st = store_->BeginTrace(req.head());
  if (!st.ok()) return End(ToClient(st.status()), StoreReason(st.status()));
  api::UploadResponse resp;
  resp.mutable_resume()->set_trace_id(st->trace_id);
  resp.mutable_resume()->set_next_chunk(st->next_chunk);
  resp.mutable_resume()->set_complete(st->complete);
  if (!stream->Write(resp)) {
    return End(grpc::Status(grpc::StatusCode::CANCELLED, "client gone"), "cancelled");
  }
  bool stored_new = false;
  while (stream->Read(&req)) {
    if (req.what_case() != api::UploadRequest::kChunk) {
      return End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "one head per upload"),
                 "protocol");
    }
    const api::Chunk& c = req.chunk();
    if (c.frame().size() > limits_.chunk_bytes) {
      return End(
          grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                       absl::StrCat("chunk ", c.index(), " is ", c.frame().size(),
                                    " bytes; this server takes at most ", limits_.chunk_bytes)),
          "chunk_too_large");
    }
    if (!Spend(agent, c.frame().size())) {
      return End(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              absl::StrCat("upload quota: this agent may send ",
                                           limits_.bytes_per_hour, " bytes an hour; retry later")),
                 "quota");
    }
    if (absl::Status s = store_->AppendChunk(st->trace_id, c.index(), c.frame()); !s.ok()) {
      return End(ToClient(s), StoreReason(s));
    }
    chunks_acked_.fetch_add(1, std::memory_order_relaxed);
    if (metrics_) metrics_->ChunkAcked(c.frame().size());
    stored_new = stored_new || c.index() >= st->next_chunk;
    resp.Clear();
    resp.set_acked(c.index());
    if (!stream->Write(resp)) {
      return End(grpc::Status(grpc::StatusCode::CANCELLED, "client gone"), "cancelled");
    }
  }
  // A trace this upload finished goes to the replay workers (even if the
  // client vanished right after its last ack).
  if (stored_new && on_complete_) {
    absl::StatusOr<TraceRecord> t = store_->GetTrace(st->trace_id);
    if (t.ok() && t->complete) on_complete_(st->trace_id);
  }
  // Read() ends on the client's half-close, or when gRPC itself ends the
  // call (the client vanished, or sent a message over --max-message-bytes).
  if (context->IsCancelled()) {
    return End(grpc::Status(grpc::StatusCode::CANCELLED, "the stream ended abnormally"),
               "cancelled");
  }
  return grpc::Status::OK;
}

}  // namespace faultlab::server
