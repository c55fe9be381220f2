#include "server/replay/replay_service.h"

#include <algorithm>
#include <thread>

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
  // The cells run `parallel` at a time, each in a worker process of its
  // own reading the same stored file (the page cache shares it); their
  // results go out as they finish, each naming its cell.
  Matrix m;
  m.req = req;
  m.name = name;
  m.mode = mode;
  m.cells = cells;
  m.file = &*file;
  m.ctx = ctx;
  m.out = out;
  if (mode == "open") m.board_costs = BoardCostsFor(store_, rec->header);
  const uint64_t parallel = std::min<uint64_t>(cells, std::max(1, matrix_workers_));
  std::vector<std::thread> threads;
  for (uint64_t t = 1; t < parallel; ++t) threads.emplace_back([&] { RunCells(&m); });
  RunCells(&m);
  for (std::thread& t : threads) t.join();
  return m.status;
}

void ReplayService::RunCells(Matrix* m) {
  for (;;) {
    const uint64_t cell = m->next.fetch_add(1);
    if (cell >= m->cells || m->failed.load()) return;
    if (m->ctx->IsCancelled()) {
      m->Fail(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
      return;
    }
    if (grpc::Status s = RunCell(m, cell); !s.ok()) {
      m->Fail(s);
      return;
    }
  }
}

bool ReplayService::Matrix::Write(const api::ReplayUpdate& u) {
  std::lock_guard<std::mutex> lock(mu);
  return out->Write(u);
}

void ReplayService::Matrix::Fail(const grpc::Status& s) {
  std::lock_guard<std::mutex> lock(mu);
  if (!failed.exchange(true)) status = s;
}

grpc::Status ReplayService::RunCell(Matrix* m, uint64_t cell) {
  const api::ReplayRequest* req = m->req;
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
  job.trace_path = m->file->path;
  job.bytes = m->file->bytes;
  job.name = m->name;
  job.what_if = parts;
  job.mode = m->mode;
  job.keep_going = true;
  // A board's calibrated costs (calibration.h) are part of what a cell
  // means: a newer calibration is another cell of the store.
  const bool costs = UseBoardCosts(m->board_costs, parts, &job) > 0;
  const std::string key = costs ? absl::StrCat(settings, ";costs=", job.costs_source) : settings;
  api::ReplayUpdate result;
  api::ReplayCell* c = result.mutable_result();
  c->set_cell(cell);
  c->set_settings(settings);
  const grpc::Status gone(grpc::StatusCode::CANCELLED, "client went away");
  if (absl::StatusOr<WhatIfRecord> saved = store_->GetWhatIf(req->trace_id(), key, m->mode);
      saved.ok()) {
    c->set_outcome(saved->outcome);
    c->set_report(saved->report);
    c->set_cached(true);
    return m->Write(result) ? grpc::Status::OK : gone;
  }
  // Progress: the inputs replayed so far over every running cell.
  api::ReplayUpdate progress;
  progress.mutable_progress()->set_cell(cell);
  progress.mutable_progress()->set_cells(m->cells);
  progress.mutable_progress()->set_inputs_done(m->inputs.load());
  if (!m->Write(progress)) return gone;
  uint64_t mine = 0;
  const SandboxOutcome o = sandbox_->Run(
      job,
      [&](uint64_t inputs) {
        progress.mutable_progress()->set_inputs_done(m->inputs.fetch_add(inputs - mine) + inputs -
                                                     mine);
        mine = inputs;
        m->Write(progress);
      },
      [m] { return m->ctx->IsCancelled() || m->failed.load(); });
  if (o.error_reason == "stopped") {
    return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled (or the server is stopping)");
  }
  WhatIfRecord w{key, m->mode, o.outcome, o.report};
  if (absl::Status s = store_->SaveWhatIf(req->trace_id(), w); !s.ok()) return rpc::ToGrpc(s);
  if (metrics_) metrics_->AddWhatIf(w.outcome);
  c->set_outcome(w.outcome);
  c->set_report(w.report);
  return m->Write(result) ? grpc::Status::OK : gone;
}

}  // namespace faultlab::server
