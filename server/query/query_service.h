// QueryService: lists the stored traces (filtered by series) and serves
// their replay reports (proto/ingest.proto, service Query).
#ifndef FAULTLAB_SERVER_QUERY_QUERY_SERVICE_H_
#define FAULTLAB_SERVER_QUERY_QUERY_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>

#include "proto/ingest.grpc.pb.h"
#include "server/auth/tokens.h"
#include "server/store/store.h"

namespace faultlab::server {

class QueryService final : public api::Query::Service {
 public:
  // `tokens` null: open mode; else every call needs an operator token.
  // `render_html` (may be empty) renders a run's page from its trace id.
  explicit QueryService(Store* store, const Tokens* tokens = nullptr,
                        std::function<std::string(const std::string&)> render_html = {})
      : store_(store), tokens_(tokens), render_html_(std::move(render_html)) {}
  grpc::Status ListTraces(grpc::ServerContext*, const api::TraceFilter* filter,
                          api::ListTracesResponse* out) override;
  grpc::Status GetReport(grpc::ServerContext*, const api::ReportRequest* req,
                         api::ReportResponse* out) override;
  grpc::Status ListRuns(grpc::ServerContext*, const api::RunFilter* filter,
                        api::ListRunsResponse* out) override;

 private:
  void Fill(const TraceRecord& r, api::TraceInfo* info);
  Store* store_;
  const Tokens* tokens_;
  std::function<std::string(const std::string&)> render_html_;
};

// The proto of a stored run, and a store filter from the proto's.
void FillRun(const RunRecord& r, api::RunInfo* info);
RunFilter FromProto(const api::RunFilter& f);

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_QUERY_QUERY_SERVICE_H_
