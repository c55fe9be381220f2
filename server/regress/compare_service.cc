#include "server/regress/compare_service.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "lib/rpc/status.h"
#include "server/query/query_service.h"
#include "server/regress/stats.h"

namespace faultlab::server {
namespace {

// The runs of one side, their latencies pooled and sorted.
absl::Status Gather(Store* store, const api::RunGroup& g, const char* side,
                    std::vector<uint64_t>* latencies, api::GroupSummary* sum) {
  std::vector<RunRecord> runs;
  if (g.what_case() == api::RunGroup::kTraceId) {
    absl::StatusOr<RunRecord> r = store->GetRun(g.trace_id(), true);
    if (!r.ok()) {
      return absl::NotFoundError(absl::StrCat(side, ": no run ",
                                              absl::BytesToHexString(g.trace_id()),
                                              " (unknown, incomplete, or not analysed yet)"));
    }
    runs.push_back(std::move(*r));
  } else if (g.what_case() == api::RunGroup::kFilter) {
    RunFilter f = FromProto(g.filter());
    f.with_latencies = true;
    absl::StatusOr<std::vector<RunRecord>> all = store->ListRuns(f);
    if (!all.ok()) return all.status();
    runs = std::move(*all);
    if (runs.empty()) return absl::NotFoundError(absl::StrCat(side, ": no run matches"));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(side, ": give a trace id or a filter"));
  }
  for (const RunRecord& r : runs) {
    latencies->insert(latencies->end(), r.latencies.begin(), r.latencies.end());
    sum->set_alloc_failures(sum->alloc_failures() + r.alloc_failures);
  }
  std::sort(latencies->begin(), latencies->end());
  sum->set_runs(runs.size());
  sum->set_faults(latencies->size());
  sum->set_p50_ns(QuantileNs(*latencies, 500));
  sum->set_p90_ns(QuantileNs(*latencies, 900));
  sum->set_p99_ns(QuantileNs(*latencies, 990));
  sum->set_max_ns(latencies->empty() ? 0 : latencies->back());
  return absl::OkStatus();
}

}  // namespace

grpc::Status CompareService::Runs(grpc::ServerContext* ctx, const api::CompareRequest* req,
                                  api::CompareResponse* out) {
  if (grpc::Status a = Authorize(tokens_, *ctx, Role::kOperator); !a.ok()) return a;
  std::vector<uint64_t> a, b;
  if (absl::Status s = Gather(store_, req->a(), "a", &a, out->mutable_a()); !s.ok())
    return rpc::ToGrpc(s);
  if (absl::Status s = Gather(store_, req->b(), "b", &b, out->mutable_b()); !s.ok())
    return rpc::ToGrpc(s);
  const Verdict v = CompareRuns(a, b, options_.alpha, options_.min_effect);
  switch (v.kind) {
    case Verdict::kRegressed:
      out->set_verdict("regressed");
      break;
    case Verdict::kImproved:
      out->set_verdict("improved");
      break;
    case Verdict::kUnchanged:
      out->set_verdict("unchanged");
      break;
    case Verdict::kTooFewSamples:
      out->set_verdict("too_few_samples");
      break;
  }
  out->set_p_value(v.test.p_two_sided);
  out->set_z(v.test.z);
  out->set_cliffs_delta(v.test.cliffs_delta);
  out->set_median_ratio(v.median_ratio);
  return grpc::Status::OK;
}

}  // namespace faultlab::server
