// Replayer: re-executes a trace on a fresh device built from its header and
// checks every recorded output, rr-style (docs/record-replay.md).
//
// Two readers walk the file: one for inputs, one for expectations; memory is
// bounded by a chunk each. Each recorded event goes through the stages, each
// testable on its own:
//   normalise (normalise.h) what the event means to this build: input or
//                           output, board-capture rules, legacy markers;
//   rewrite   (rewrite.h)   what-if only: granularity, recorded ids -> the
//                           replay's;
//   apply     (apply.h)     the input executed on the fresh device;
//   check     (check.h)     every event the device produces compared, as it
//                           is produced, with the next recorded one.
//
// What-if replay (`what_if` non-empty) runs the same inputs on a changed
// device; outputs then become results (counted, not divergences).
#ifndef FAULTLAB_ENGINE_REPLAY_REPLAYER_H_
#define FAULTLAB_ENGINE_REPLAY_REPLAYER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/dev/device.h"
#include "engine/replay/config.h"
#include "engine/replay/what_if.h"
#include "engine/trace/io.h"
#include "engine/trace/text.h"

namespace faultlab::replay {

struct ReplayOptions {
  bool keep_going = false;  // go on after the first divergence
  WhatIf what_if;
  uint32_t context_events = 3;  // events shown before a divergence
  bool skip_damaged = false;
  // Called with the count of inputs executed so far, after each (the CLI's
  // progress bar); the engine itself never looks at a clock.
  std::function<void(uint64_t)> on_input;
  // Called with every event the replay produces (the server's metrics).
  std::function<void(const trace::Event&)> on_output;
  // Called with each fault work's timing and counts (calibration).
  std::function<void(const fault::FaultPath::Timing&)> on_fault_timing;
  // Costs in place of the profile's (calibration trying a fit; not a
  // what-if key: a calibrated profile is, docs/cost-model.md).
  std::optional<profiles::CostModel> cost_model;
  // Where cost_model came from, for the report's `costs:` line (e.g. a
  // board's calibrated profile on the server).
  std::string cost_source;
  // A board trace with a fault stream: its GPU work replays from the
  // recorded faults (kRecorded; kAuto picks it when there is a stream) or
  // from the twin's footprint model (kModel: the model's faults beside the
  // board's). docs/board.md "Replaying from the fault stream".
  enum class GpuWork { kAuto, kRecorded, kModel };
  GpuWork gpu_work = GpuWork::kAuto;
};

struct Divergence {
  uint64_t index = 0;  // event index in the trace
  std::string expected;
  std::string got;
  std::vector<std::string> context;
};

enum class ReplayOutcome { kIdentical, kDiverged, kModelChanged, kWhatIf, kError };
const char* ReplayOutcomeName(ReplayOutcome o);

struct ReplayResult {
  ReplayOutcome outcome = ReplayOutcome::kError;
  absl::Status status;  // damaged input, bad header, ...
  std::vector<Divergence> divergences;
  uint64_t divergence_count = 0;
  uint64_t inputs = 0;
  uint64_t events = 0;          // produced by the replay
  trace::TraceSummary summary;  // of the produced events
  dev::DeviceStats device;
  uint64_t peak_resident_bytes = 0;
  uint64_t granularity_clamped = 0;  // what-if granularity that no longer fit
  std::string costs;                 // ReplayOptions::cost_source when costs were given
  // aof=: plain BOs made alloc-on-fault, and their bytes (reported when set).
  bool aof = false;
  uint64_t aof_converted_bos = 0;
  uint64_t aof_converted_bytes = 0;
  uint64_t skipped_dependent = 0;  // what-if inputs naming an object never created
  uint64_t ids_remapped = 0;       // what-if ids rewritten to the replay's
  uint32_t model_version = 0;
  // Board traces (CAPTURE_SOURCE_BOARD, docs/board.md): outputs taken from
  // the recording rather than checked (DEV_QUERY, VERSION and GET_UNIQUE
  // answers, waits that timed out in host time), and mmap offsets translated.
  bool board = false;
  uint64_t injected = 0;
  // Board traces: ioctls the replay's variant does not model (1.7's BO_SYNC
  // and BO_QUERY_INFO on the series' 1.6, and DRM core ones the twin answers
  // -ENOSYS), and WB_MMAP flags cleared for a series variant: their outcome
  // is the recording's.
  uint64_t not_modelled = 0;
  // What the board itself said (kernel facts in the trace, docs/board.md):
  // unhandled faults from its kernel log, handled-fault durations measured
  // by kprobes (their quantiles from `recorded`).
  uint64_t recorded_unhandled = 0;
  uint64_t recorded_measured = 0;
  uint64_t recorded_stream = 0;  // of those, with their address and time (the fault stream)
  // Its GPU work from the recorded faults: how many the replay's jobs
  // touched, how many had no job to go with; and, under a what-if that
  // needs accesses the board never faulted on, why it is not derivable.
  bool from_recorded_faults = false;
  uint64_t faults_from_recording = 0;
  uint64_t faults_unattributed = 0;
  std::string not_derivable;
  trace::TraceSummary recorded;
};

// `open` returns a fresh source over the trace each time it is called.
ReplayResult Replay(const std::function<absl::StatusOr<std::unique_ptr<trace::ByteSource>>()>& open,
                    const std::string& name, const ReplayOptions& options);

// Closed-loop what-if (`--what-if-mode=rerun`): re-runs the trace's workload
// (name, seed and frames from the header) on a device built from the header
// with `what_if` applied, instead of replaying the recorded inputs; the
// program reacts to what the new configuration does (a failed creation is
// not followed by calls that use it). Needs a trace `record` made.
// `granularity` is refused: the workload's BOs carry their own.
ReplayResult Rerun(const trace::TraceHeader& header, const std::string& name,
                   const WhatIf& what_if);

// The integer-only report of a replay: text ("key: value" lines) or JSON.
std::string ReportText(const ReplayResult& r);
std::string ReportJson(const ReplayResult& r);

}  // namespace faultlab::replay

#endif  // FAULTLAB_ENGINE_REPLAY_REPLAYER_H_
