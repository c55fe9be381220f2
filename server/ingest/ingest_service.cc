#include "server/ingest/ingest_service.h"

#include "absl/strings/str_cat.h"

namespace faultlab::server {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical codes.
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

grpc::Status IngestService::Upload(
    grpc::ServerContext* /*context*/,
    grpc::ServerReaderWriter<api::UploadResponse, api::UploadRequest>* stream) {
  active_.fetch_add(1, std::memory_order_relaxed);
  struct Leave {
    std::atomic<uint64_t>& n;
    ~Leave() { n.fetch_sub(1, std::memory_order_relaxed); }
  } leave{active_};

  api::UploadRequest req;
  if (!stream->Read(&req)) return grpc::Status(grpc::StatusCode::CANCELLED, "no head");
  if (req.what_case() != api::UploadRequest::kHead) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "an upload starts with the trace's head");
  }
  absl::StatusOr<UploadState> st = store_->BeginTrace(req.head());
  if (!st.ok()) return ToGrpc(st.status());
  api::UploadResponse resp;
  resp.mutable_resume()->set_trace_id(st->trace_id);
  resp.mutable_resume()->set_next_chunk(st->next_chunk);
  resp.mutable_resume()->set_complete(st->complete);
  if (!stream->Write(resp)) return grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
  while (stream->Read(&req)) {
    if (req.what_case() != api::UploadRequest::kChunk) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "one head per upload");
    }
    if (absl::Status s = store_->AppendChunk(st->trace_id, req.chunk().index(), req.chunk().frame());
        !s.ok()) {
      return ToGrpc(s);
    }
    chunks_acked_.fetch_add(1, std::memory_order_relaxed);
    resp.Clear();
    resp.set_acked(req.chunk().index());
    if (!stream->Write(resp)) return grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
  }
  return grpc::Status::OK;
}

}  // namespace faultlab::server
