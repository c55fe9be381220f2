#include "engine/replay/recorder.h"

namespace faultlab::replay {

absl::StatusOr<Recording> RecordWorkload(const dev::DeviceConfig& config,
                                         const workload::WorkloadConfig& w,
                                         const std::string& board, const std::string& trace_id,
                                         const trace::WriterOptions& options) {
  Recording r;
  trace::StringSink sink(&r.bytes);
  trace::TraceWriter writer(&sink, MakeHeader(config, w.name, board, trace_id, 0, w.frames),
                            options);
  Recorder rec(&writer);
  dev::Device device(config);
  device.set_observer(&rec);
  absl::Status s = workload::RunWorkload(w, device);
  device.set_observer(nullptr);  // teardown is not part of the recording
  if (!s.ok()) return s;
  if (absl::Status f = rec.Finish(); !f.ok()) return f;
  r.events = writer.events_written();
  r.virtual_ns = device.now_ns();
  return r;
}

}  // namespace faultlab::replay
