// Recorder: a device observer that writes every event into a trace.
//
//   TraceWriter writer(&sink, MakeHeader(config, workload, host_clock_ns));
//   Recorder rec(&writer);
//   device.set_observer(&rec);
//   ... run ...
//   RETURN_IF_ERROR(rec.Finish());
#ifndef FAULTLAB_ENGINE_REPLAY_RECORDER_H_
#define FAULTLAB_ENGINE_REPLAY_RECORDER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/dev/device.h"
#include "engine/trace/writer.h"
#include "engine/workload/workload.h"
#include "proto/trace.pb.h"

namespace faultlab::replay {

// Everything a replay needs to rebuild the device: the header. `wall_clock_ns`
// comes from the host (the engine never reads a clock); `trace_id` is 16 bytes.
// `frames` (0: the workload's default, not written) lets a closed-loop
// what-if re-run the same workload (Rerun in replayer.h).
trace::TraceHeader MakeHeader(const dev::DeviceConfig& config, const std::string& workload,
                              const std::string& board, const std::string& trace_id,
                              int64_t wall_clock_ns, uint32_t frames = 0);

// The device configuration a header describes, with what-if overrides
// (`key=value`: profile, variant, policy, budget, granularity, thp).
struct WhatIf {
  std::string key;
  std::string value;
};
absl::StatusOr<dev::DeviceConfig> ConfigFromHeader(const trace::TraceHeader& header,
                                                   const std::vector<WhatIf>& what_if);
// The device a workload records on (faultlab record, the agent, the
// backfill): `settings` (profile, variant, policy, budget, thp) over the
// defaults g610 / series-fixed / noretry; memory pressure on when `pressure`
// or the workload wants it, with a 512 MiB budget unless `settings` gives
// one. An unknown workload or setting is INVALID_ARGUMENT.
absl::StatusOr<dev::DeviceConfig> RecordingConfig(const std::string& workload,
                                                  const std::vector<WhatIf>& settings, bool pressure);
// "64M", "2G", "4096", "0x1000" -> bytes.
absl::StatusOr<uint64_t> ParseSize(const std::string& s);

class Recorder : public dev::Observer {
 public:
  explicit Recorder(trace::TraceWriter* writer) : writer_(writer) {}
  void OnEvent(const trace::Event& e) override {
    if (status_.ok()) status_ = writer_->Append(e);
  }
  // Writes the final chunk; returns the first error.
  absl::Status Finish() {
    if (status_.ok()) status_ = writer_->Finish();
    return status_;
  }
  const absl::Status& status() const { return status_; }

 private:
  trace::TraceWriter* writer_;
  absl::Status status_;
};

// A workload run on a fresh device with `config`, recorded into memory (tests,
// benchmarks, golden files). `frames` goes into the header when set.
struct Recording {
  std::string bytes;
  uint64_t events = 0;
  uint64_t virtual_ns = 0;  // the device's clock at the end
};
absl::StatusOr<Recording> RecordWorkload(const dev::DeviceConfig& config,
                                         const workload::WorkloadConfig& w,
                                         const std::string& board, const std::string& trace_id,
                                         const trace::WriterOptions& options = {});

}  // namespace faultlab::replay

#endif  // FAULTLAB_ENGINE_REPLAY_RECORDER_H_
