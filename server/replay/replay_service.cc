#include "server/replay/replay_service.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/replay/what_if.h"
#include "lib/rpc/status.h"
#include "server/replay/calibration.h"

namespace faultlab::server {
namespace {

// Gives the slot back on every way out.
class Slot {
 public:
  explicit Slot(std::atomic<int>* slots) : slots_(slots) {
    taken_ = slots_->fetch_sub(1) > 0;
    if (!taken_) slots_->fetch_add(1);
  }
  ~Slot() {
    if (taken_) slots_->fetch_add(1);
  }
  bool taken() const { return taken_; }

 private:
  std::atomic<int>* slots_;
  bool taken_;
};

}  // namespace

grpc::Status ReplayService::Run(grpc::ServerContext* ctx, const api::ReplayRequest* req,
                                grpc::ServerWriter<api::ReplayUpdate>* out) {
  if (grpc::Status a = Authorize(tokens_, *ctx, Role::kOperator); !a.ok()) return a;
  const std::string mode = req->mode().empty() ? "open" : req->mode();
  if (mode != "open" && mode != "rerun") {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("mode '", mode, "': 'open' or 'rerun'"));
  }
  uint64_t cells = 1;
  replay::WhatIf first;  // the first value of every axis: a key given twice shows here
  for (const api::WhatIfAxis& axis : req->axes()) {
    if (axis.values().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("what-if key '", axis.key(), "' has no values"));
    }
    for (const std::string& v : axis.values()) {
      replay::WhatIf scratch;
      absl::Status s =
          v.find_first_of(",=") != std::string::npos
              ? absl::InvalidArgumentError(absl::StrCat("what-if ", axis.key(), " value '", v, "'"))
              : replay::SetWhatIf(axis.key(), v, &scratch);
      if (!s.ok()) return rpc::ToGrpc(s);
    }
    if (absl::Status s = replay::SetWhatIf(axis.key(), axis.values(0), &first); !s.ok())
      return rpc::ToGrpc(s);
    cells *= static_cast<uint64_t>(axis.values_size());
    if (cells > kMaxCells) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("the matrix has more than ", kMaxCells, " cells"));
    }
  }
  absl::StatusOr<TraceRecord> rec = store_->GetTrace(req->trace_id());
  if (!rec.ok()) return rpc::ToGrpc(rec.status());
  if (!rec->complete) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "the upload is not complete: nothing to replay");
  }
  Slot slot(&slots_);
  if (!slot.taken()) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "every replay slot is busy (--replay-workers); retry later");
  }
  const std::string name = absl::BytesToHexString(req->trace_id());
  absl::StatusOr<Store::StoredFile> file = store_->TraceFile(req->trace_id());
  if (!file.ok()) return rpc::ToGrpc(file.status());
  for (uint64_t cell = 0; cell < cells; ++cell) {
    if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    // Cell -> one value per axis, the last axis fastest.
    std::vector<std::string> parts(req->axes_size());
    uint64_t rest = cell;
    for (int a = req->axes_size() - 1; a >= 0; --a) {
      const api::WhatIfAxis& axis = req->axes(a);
      const uint64_t n = static_cast<uint64_t>(axis.values_size());
      const std::string& value = axis.values(static_cast<int>(rest % n));
      rest /= n;
      parts[a] = absl::StrCat(axis.key(), "=", value);  // validated above
    }
    const std::string settings = absl::StrJoin(parts, ",");
    SandboxJob job;
    job.trace_path = file->path;
    job.bytes = file->bytes;
    job.name = name;
    job.what_if = parts;
    job.mode = mode;
    job.keep_going = true;
    // A board's calibrated costs (calibration.h) are part of what a cell
    // means: a newer calibration is another cell of the store.
    const bool costs = mode == "open" && UseBoardCosts(store_, rec->header, parts, &job) > 0;
    const std::string key = costs ? absl::StrCat(settings, ";costs=", job.costs_source) : settings;
    api::ReplayUpdate result;
    api::ReplayCell* c = result.mutable_result();
    c->set_cell(cell);
    c->set_settings(settings);
    if (absl::StatusOr<WhatIfRecord> saved = store_->GetWhatIf(req->trace_id(), key, mode);
        saved.ok()) {
      c->set_outcome(saved->outcome);
      c->set_report(saved->report);
      c->set_cached(true);
      if (!out->Write(result)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      continue;
    }
    api::ReplayUpdate progress;
    progress.mutable_progress()->set_cell(cell);
    progress.mutable_progress()->set_cells(cells);
    if (!out->Write(progress)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    const SandboxOutcome o = sandbox_->Run(
        job,
        [&](uint64_t inputs) {
          progress.mutable_progress()->set_inputs_done(inputs);
          out->Write(progress);
        },
        [ctx] { return ctx->IsCancelled(); });
    if (o.error_reason == "stopped") {
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled (or the server is stopping)");
    }
    WhatIfRecord w{key, mode, o.outcome, o.report};
    if (absl::Status s = store_->SaveWhatIf(req->trace_id(), w); !s.ok()) return rpc::ToGrpc(s);
    if (metrics_) metrics_->AddWhatIf(w.outcome);
    c->set_outcome(w.outcome);
    c->set_report(w.report);
    if (!out->Write(result)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }
  return grpc::Status::OK;
}

}  // namespace faultlab::server
