// The integer-only report of a replay (ReportText, ReportJson).
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/replay/replayer.h"

namespace faultlab::replay {

namespace {

// The report lines after the trace summary, in order; text and JSON share them.
std::vector<std::pair<const char*, uint64_t>> DeviceLines(const ReplayResult& r) {
  // Overcommit: alloc-on-fault bytes promised at their peak per 1000 bytes of
  // peak resident memory (integers only, so reports compare as bytes).
  const uint64_t overcommit =
      r.peak_resident_bytes ? r.device.aof_bytes_peak * 1000 / r.peak_resident_bytes : 0;
  std::vector<std::pair<const char*, uint64_t>> v = {
      {"ioctls", r.device.ioctls},
      {"ioctl_errors", r.device.ioctl_errors},
      {"jobs_completed", r.device.jobs_completed},
      {"jobs_killed", r.device.jobs_failed},
      {"groups_killed", r.device.groups_killed},
      {"heap_grows", r.device.heap_grows},
      {"peak_resident_bytes", r.peak_resident_bytes},
      {"alloc_on_fault_bytes_peak", r.device.aof_bytes_peak},
      {"overcommit_permille", overcommit},
  };
  if (r.granularity_clamped) v.push_back({"granularity_clamped", r.granularity_clamped});
  if (r.aof) {
    v.push_back({"aof_converted_bos", r.aof_converted_bos});
    v.push_back({"aof_converted_bytes", r.aof_converted_bytes});
  }
  if (r.skipped_dependent) v.push_back({"skipped_dependent", r.skipped_dependent});
  if (r.ids_remapped) v.push_back({"ids_remapped", r.ids_remapped});
  if (r.board) {
    v.push_back({"injected_from_recording", r.injected});
    if (r.from_recorded_faults) {
      // The GPU work from the stream: the faults given to the twin's jobs.
      v.push_back({"faults.from_recording", r.faults_from_recording});
      v.push_back({"faults.unattributed", r.faults_unattributed});
      v.push_back({"faults.derivable", r.not_derivable.empty() ? 1u : 0u});
    }
    if (r.not_modelled) v.push_back({"not_modelled_ioctls", r.not_modelled});
    v.push_back({"recorded.faults.unhandled", r.recorded_unhandled});
    v.push_back({"recorded.faults.measured", r.recorded_measured});
    if (r.recorded_stream) {
      // The fault stream (kprobes with fetched fields): each fault's outcome.
      v.push_back({"recorded.faults.stream", r.recorded_stream});
      v.push_back({"recorded.faults.handled", r.recorded.faults_by_outcome(trace::FAULT_HANDLED)});
      v.push_back({"recorded.faults.enomem", r.recorded.faults_by_outcome(trace::FAULT_ENOMEM)});
      v.push_back({"recorded.faults.efault", r.recorded.faults_by_outcome(trace::FAULT_EFAULT)});
      v.push_back({"recorded.faults.einval", r.recorded.faults_by_outcome(trace::FAULT_EINVAL)});
    }
    if (r.recorded_measured) {
      v.push_back({"recorded.fault_latency_ns.p50", r.recorded.LatencyQuantileNs(500)});
      v.push_back({"recorded.fault_latency_ns.p99", r.recorded.LatencyQuantileNs(990)});
      v.push_back({"recorded.fault_latency_ns.max", r.recorded.LatencyQuantileNs(1000)});
    }
  }
  v.push_back({"divergences", r.divergence_count});
  return v;
}

}  // namespace

const char* ReplayOutcomeName(ReplayOutcome o) {
  switch (o) {
    case ReplayOutcome::kIdentical:
      return "identical";
    case ReplayOutcome::kDiverged:
      return "diverged";
    case ReplayOutcome::kModelChanged:
      return "model_changed";
    case ReplayOutcome::kWhatIf:
      return "what_if";
    case ReplayOutcome::kError:
      return "error";
  }
  return "?";
}

std::string ReportText(const ReplayResult& r) {
  std::string s;
  absl::StrAppend(&s, "outcome: ", ReplayOutcomeName(r.outcome), "\n");
  absl::StrAppend(&s, "inputs: ", r.inputs, "\n");
  // Not the profile's costs (a board's calibration on the server): said.
  if (!r.costs.empty()) absl::StrAppend(&s, "costs: ", r.costs, "\n");
  absl::StrAppend(&s, r.summary.ReportText());
  for (const auto& [key, value] : DeviceLines(r)) absl::StrAppend(&s, key, ": ", value, "\n");
  return s;
}

std::string ReportJson(const ReplayResult& r) {
  std::string s = "{";
  absl::StrAppend(&s, "\"outcome\": \"", ReplayOutcomeName(r.outcome), "\", \"inputs\": ", r.inputs,
                  ", ");
  if (!r.costs.empty()) absl::StrAppend(&s, "\"costs\": \"", r.costs, "\", ");
  absl::StrAppend(&s, r.summary.ReportJson());
  for (const auto& [key, value] : DeviceLines(r)) absl::StrAppend(&s, ", \"", key, "\": ", value);
  s += "}\n";
  return s;
}

}  // namespace faultlab::replay
