// Rerun: the closed-loop what-if (replayer.h).
#include "absl/strings/str_cat.h"
#include "engine/replay/replayer.h"
#include "engine/workload/workload.h"

namespace faultlab::replay {
namespace {

// Summarises what the re-run device produces.
class Summarizer : public events::Observer {
 public:
  explicit Summarizer(ReplayResult* r) : r_(r) {}
  void OnEvent(const trace::Event& e) override {
    r_->summary.Add(e);
    ++r_->events;
    // Inputs as a replay of this run would count them: each ioctl, marker,
    // CPU map, state-hash request and file, and each job (a run of accesses).
    const bool same_job = e.kind == trace::EVENT_JOB_ACCESS && in_job_ && e.access.job == job_;
    switch (e.kind) {
      case trace::EVENT_IOCTL:
      case trace::EVENT_CPU_MAP:
      case trace::EVENT_MARKER:
      case trace::EVENT_STATE_HASH:
      case trace::EVENT_FILE:
      case trace::EVENT_GPU_RUN:
        ++r_->inputs;
        break;
      case trace::EVENT_JOB_ACCESS:
        r_->inputs += !same_job;
        break;
      default:
        break;
    }
    in_job_ = e.kind == trace::EVENT_JOB_ACCESS;
    if (in_job_) job_ = e.access.job;
  }

 private:
  ReplayResult* r_;
  bool in_job_ = false;
  uint64_t job_ = 0;
};

}  // namespace

ReplayResult Rerun(const trace::TraceHeader& header, const std::string& name,
                   const WhatIf& what_if) {
  ReplayResult r;
  const workload::WorkloadInfo* w = workload::FindWorkload(header.workload());
  if (header.capture_source() != trace::CAPTURE_SOURCE_TWIN || w == nullptr) {
    r.status = absl::InvalidArgumentError(absl::StrCat(
        name,
        ": rerun needs a trace 'faultlab record' made from a workload; this one's workload is '",
        header.workload(), "'"));
    return r;
  }
  if (what_if.granularity_bytes || what_if.aof || what_if.aof_granularity_bytes) {
    r.status = absl::InvalidArgumentError(
        "granularity and aof cannot be rerun what-ifs: the workload's BOs carry their own; use "
        "the default open mode, which rewrites the recorded BO_CREATEs");
    return r;
  }
  absl::StatusOr<dev::DeviceConfig> cfg = ConfigFromHeader(header);
  absl::StatusOr<uint32_t> frames = HeaderFrames(header);
  if (!cfg.ok() || !frames.ok()) {
    const absl::Status& s = cfg.ok() ? frames.status() : cfg.status();
    r.status = absl::Status(s.code(), absl::StrCat(name, ": ", s.message()));
    return r;
  }
  ApplyWhatIf(what_if, &*cfg);
  r.model_version = header.model_version();
  Summarizer summarizer(&r);
  dev::Device device(*cfg);
  device.set_observer(&summarizer);
  absl::Status s = workload::RunWorkload({w->name, header.seed(), *frames}, device);
  device.set_observer(nullptr);
  if (!s.ok()) {
    r.status = s;
    r.outcome = ReplayOutcome::kError;
    return r;
  }
  r.device = device.stats();
  r.peak_resident_bytes = device.memory().peak_used_pages() * 4096;
  r.outcome = ReplayOutcome::kWhatIf;
  return r;
}

}  // namespace faultlab::replay
