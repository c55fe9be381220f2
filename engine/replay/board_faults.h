// Board replays from the recorded fault stream (docs/board.md "Replaying
// from the fault stream"): the twin does not know which addresses a real
// GPU's work touches (it runs no shaders; a footprint is a model), but a
// board's fault stream says which ones it faulted on. Each recorded fault is
// attributed to the VM its stream names and to the job submitted there last
// before it was raised, and is touched by that job, first — so the twin's
// fault path decides its outcome under the replay's configuration, and a
// job the twin kills raises none of its later faults.
#ifndef FAULTLAB_ENGINE_REPLAY_BOARD_FAULTS_H_
#define FAULTLAB_ENGINE_REPLAY_BOARD_FAULTS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gpu/job.h"
#include "engine/trace/reader.h"

namespace faultlab::replay {

struct BoardFaults {
  // The accesses each successful GROUP_SUBMIT's first job makes first, by
  // the submit's position among them.
  std::vector<std::vector<gpu::GpuAccess>> by_submit;
  uint64_t recorded = 0;      // faults of the stream (with their address and time)
  uint64_t unattributed = 0;  // raised before any submit of their VM
};

// Reads the whole trace (the stream's facts sit at its end, after the calls
// they follow). An empty result when the trace has no stream.
absl::StatusOr<BoardFaults> ScanBoardFaults(trace::TraceReader& reader);

}  // namespace faultlab::replay

#endif  // FAULTLAB_ENGINE_REPLAY_BOARD_FAULTS_H_
