// Recorder: a device observer that writes every event into a trace.
//
//   TraceWriter writer(&sink, MakeHeader(config, workload, board, id, host_clock_ns));
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
#include "engine/events/observer.h"
#include "engine/replay/config.h"
#include "engine/trace/writer.h"
#include "engine/workload/workload.h"

namespace faultlab::replay {

class Recorder : public events::Observer {
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
