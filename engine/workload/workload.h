// Workloads: seeded programs that drive the twin through its uAPI the way GPU
// clients do, deterministic by seed (docs/workloads.md is the catalogue).
//
//   WorkloadConfig w{.name = "compute", .seed = 1};
//   absl::Status s = RunWorkload(w, device);
#ifndef FAULTLAB_ENGINE_WORKLOAD_WORKLOAD_H_
#define FAULTLAB_ENGINE_WORKLOAD_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/dev/device.h"

namespace faultlab::workload {

struct WorkloadConfig {
  std::string name;
  uint64_t seed = 1;
  uint32_t frames = 0;  // 0: the workload's default
};

struct WorkloadInfo {
  std::string name;
  std::string summary;
  uint32_t default_frames;
  // Device settings the workload is meant to run with (e.g. memory pressure).
  bool wants_pressure;
  std::string parameters;  // what it does per frame, for `faultlab workloads`
};

const std::vector<WorkloadInfo>& Workloads();
const WorkloadInfo* FindWorkload(const std::string& name);

// Runs the workload on `dev` to its end (every job finished). Emits frame
// markers and a device state hash per frame.
absl::Status RunWorkload(const WorkloadConfig& config, dev::Device& dev);

}  // namespace faultlab::workload

#endif  // FAULTLAB_ENGINE_WORKLOAD_WORKLOAD_H_
