#include "server/ingest/ingest_service.h"

#include "absl/strings/str_cat.h"

namespace faultlab::server {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical codes.
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

grpc::Status IngestService::End(const grpc::Status& s) {
  if (!s.ok() && metrics_) {
    static const char* const kNames[] = {
        "ok", "cancelled", "unknown", "invalid_argument", "deadline_exceeded", "not_found",
        "already_exists", "permission_denied", "resource_exhausted", "failed_precondition",
        "aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss",
        "unauthenticated"};
    const int code = static_cast<int>(s.error_code());
    metrics_->Rejected(code >= 0 && code <= 16 ? kNames[code] : "unknown");
  }
  return s;
}

grpc::Status IngestService::Upload(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<api::UploadResponse, api::UploadRequest>* stream) {
  if (grpc::Status a = Authorize(tokens_, *context, Role::kAgent); !a.ok()) return End(a);
  active_.fetch_add(1, std::memory_order_relaxed);
  if (metrics_) metrics_->active_streams().Increment();
  struct Leave {
    IngestService* s;
    ~Leave() {
      s->active_.fetch_sub(1, std::memory_order_relaxed);
      if (s->metrics_) s->metrics_->active_streams().Decrement();
    }
  } leave{this};

  api::UploadRequest req;
  if (!stream->Read(&req)) return End(grpc::Status(grpc::StatusCode::CANCELLED, "no head"));
  if (req.what_case() != api::UploadRequest::kHead) {
    return End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "an upload starts with the trace's head"));
  }
  absl::StatusOr<UploadState> st = store_->BeginTrace(req.head());
  if (!st.ok()) return End(ToGrpc(st.status()));
  api::UploadResponse resp;
  resp.mutable_resume()->set_trace_id(st->trace_id);
  resp.mutable_resume()->set_next_chunk(st->next_chunk);
  resp.mutable_resume()->set_complete(st->complete);
  if (!stream->Write(resp)) return End(grpc::Status(grpc::StatusCode::CANCELLED, "client gone"));
  bool stored_new = false;
  while (stream->Read(&req)) {
    if (req.what_case() != api::UploadRequest::kChunk) {
      return End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "one head per upload"));
    }
    const api::Chunk& c = req.chunk();
    if (absl::Status s = store_->AppendChunk(st->trace_id, c.index(), c.frame()); !s.ok()) {
      if (metrics_) metrics_->store_write_failures().Set(static_cast<double>(store_->write_failures()));
      return End(ToGrpc(s));
    }
    chunks_acked_.fetch_add(1, std::memory_order_relaxed);
    if (metrics_) metrics_->ChunkAcked(c.frame().size());
    stored_new = stored_new || c.index() >= st->next_chunk;
    resp.Clear();
    resp.set_acked(c.index());
    if (!stream->Write(resp)) return End(grpc::Status(grpc::StatusCode::CANCELLED, "client gone"));
  }
  // A trace this upload finished goes to the replay workers.
  if (stored_new && on_complete_) {
    absl::StatusOr<TraceRecord> t = store_->GetTrace(st->trace_id);
    if (t.ok() && t->complete) on_complete_(st->trace_id);
  }
  return grpc::Status::OK;
}

}  // namespace faultlab::server
