#include "server/query/query_service.h"

#include "lib/rpc/status.h"

namespace faultlab::server {

void QueryService::Fill(const TraceRecord& r, api::TraceInfo* info) {
  const trace::TraceHeader& h = r.header;
  info->set_trace_id(r.trace_id);
  info->set_board(h.board());
  info->set_profile(h.profile());
  info->set_variant(h.variant());
  info->set_policy(h.policy());
  info->set_workload(h.workload());
  info->set_chunks(r.chunks);
  info->set_events(r.events);
  info->set_bytes(r.bytes);
  info->set_complete(r.complete);
  info->set_sequence(r.sequence);
  absl::StatusOr<std::pair<std::string, std::string>> rep = store_->GetReplay(r.trace_id);
  if (rep.ok()) info->set_replay_outcome(rep->first);
}

grpc::Status QueryService::ListTraces(grpc::ServerContext* ctx, const api::TraceFilter* f,
                                      api::ListTracesResponse* out) {
  if (grpc::Status a = Authorize(tokens_, *ctx, Role::kOperator); !a.ok()) return a;
  absl::StatusOr<std::vector<TraceRecord>> all = store_->ListTraces();
  if (!all.ok()) return rpc::ToGrpc(all.status());
  for (const TraceRecord& r : *all) {
    const trace::TraceHeader& h = r.header;
    if ((!f->board().empty() && f->board() != h.board()) ||
        (!f->workload().empty() && f->workload() != h.workload()) ||
        (!f->variant().empty() && f->variant() != h.variant()) ||
        (!f->policy().empty() && f->policy() != h.policy())) {
      continue;
    }
    Fill(r, out->add_traces());
  }
  return grpc::Status::OK;
}

grpc::Status QueryService::GetReport(grpc::ServerContext* ctx, const api::ReportRequest* req,
                                     api::ReportResponse* out) {
  if (grpc::Status a = Authorize(tokens_, *ctx, Role::kOperator); !a.ok()) return a;
  absl::StatusOr<TraceRecord> r = store_->GetTrace(req->trace_id());
  if (!r.ok()) return rpc::ToGrpc(r.status());
  absl::StatusOr<std::pair<std::string, std::string>> rep = store_->GetReplay(req->trace_id());
  if (absl::IsNotFound(rep.status())) {  // the trace is there; its replay is not, yet
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        r->complete ? "not replayed yet (the workers are on it)"
                                    : "the upload is not complete: nothing to replay yet");
  }
  if (!rep.ok()) return rpc::ToGrpc(rep.status());
  Fill(*r, out->mutable_trace());
  out->set_report(rep->second);
  if (req->html()) {
    if (!render_html_)
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this server renders no HTML");
    out->set_html(render_html_(req->trace_id()));
  }
  return grpc::Status::OK;
}

void FillRun(const RunRecord& r, api::RunInfo* info) {
  info->set_trace_id(r.trace_id);
  info->set_run(r.run);
  info->set_board(r.board);
  info->set_gpu(r.gpu);
  info->set_workload(r.workload);
  info->set_variant(r.variant);
  info->set_policy(r.policy);
  info->set_faults(r.faults);
  info->set_alloc_failures(r.alloc_failures);
  info->set_p50_ns(r.p50_ns);
  info->set_p90_ns(r.p90_ns);
  info->set_p99_ns(r.p99_ns);
  info->set_max_ns(r.max_ns);
  info->set_verdict(r.verdict);
  info->set_baseline_runs(r.baseline_runs);
  info->set_p_value(r.p_value);
  info->set_cliffs_delta(r.cliffs_delta);
  info->set_median_ratio(r.median_ratio);
  info->set_change_point(r.change_point);
}

RunFilter FromProto(const api::RunFilter& f) {
  RunFilter out;
  out.board = f.board();
  out.gpu = f.gpu();
  out.workload = f.workload();
  out.variant = f.variant();
  out.policy = f.policy();
  out.limit = f.limit();
  return out;
}

grpc::Status QueryService::ListRuns(grpc::ServerContext* ctx, const api::RunFilter* f,
                                    api::ListRunsResponse* out) {
  if (grpc::Status a = Authorize(tokens_, *ctx, Role::kOperator); !a.ok()) return a;
  absl::StatusOr<std::vector<RunRecord>> runs = store_->ListRuns(FromProto(*f));
  if (!runs.ok()) return rpc::ToGrpc(runs.status());
  for (const RunRecord& r : *runs) {
    api::RunInfo* info = out->add_runs();
    FillRun(r, info);
    absl::StatusOr<std::pair<std::string, std::string>> rep = store_->GetReplay(r.trace_id);
    if (rep.ok()) info->set_replay_outcome(rep->first);
  }
  return grpc::Status::OK;
}

}  // namespace faultlab::server
