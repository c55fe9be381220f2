// The device configuration and the trace header: what a recording writes
// into its header, and the device a header (plus a what-if) rebuilds.
//
//   trace::TraceHeader h = MakeHeader(config, "compute", "rock5b-01", id, wall_ns);
//   ASSIGN_OR_RETURN(dev::DeviceConfig c, ConfigFromHeader(h));   // DATA_LOSS if damaged
//   RETURN_IF_ERROR(ApplyWhatIf(what_if, &c));
#ifndef FAULTLAB_ENGINE_REPLAY_CONFIG_H_
#define FAULTLAB_ENGINE_REPLAY_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/dev/device.h"
#include "engine/replay/what_if.h"
#include "proto/trace.pb.h"

namespace faultlab::replay {

// The header of a recording on `config`: everything a replay needs to
// rebuild the device. `wall_clock_ns` comes from the host (the engine never
// reads a clock); `trace_id` is 16 bytes; `frames` (0: the workload's
// default, not written) lets a closed-loop what-if re-run the same workload.
trace::TraceHeader MakeHeader(const dev::DeviceConfig& config, const std::string& workload,
                              const std::string& board, const std::string& trace_id,
                              int64_t wall_clock_ns, uint32_t frames = 0);

// The device a header describes. Its settings are validated like flags: a
// value that does not parse or is out of range is DATA_LOSS naming the key
// ("trace header: budget 'x': ..."); keys the twin does not read (a board's
// driver_version, an agent's labels) are left alone.
absl::StatusOr<dev::DeviceConfig> ConfigFromHeader(const trace::TraceHeader& header);
// The header's `frames` (0 when absent); DATA_LOSS when not a number.
absl::StatusOr<uint32_t> HeaderFrames(const trace::TraceHeader& header);

// Applies every setting `w` has (granularity aside: it is the replay's to
// apply to BO_CREATEs, not the device's).
void ApplyWhatIf(const WhatIf& w, dev::DeviceConfig* config);

// The defaults (DESIGN "Defaults"): profile g610, variant series-fixed,
// policy noretry, the profile's RAM as budget, thp never, no pressure.
dev::DeviceConfig DefaultConfig();

// The device a workload records on (faultlab record, the agent, the
// backfill, the shim and the loopback kernel): `settings` over the defaults;
// memory pressure on when `pressure` or the workload wants it, with a 512 MiB
// budget unless `settings` gives one. An unknown workload, or a granularity
// (BOs carry their own), is INVALID_ARGUMENT. `workload` may be empty: a
// program's device, no workload.
absl::StatusOr<dev::DeviceConfig> RecordingConfig(const std::string& workload,
                                                  const WhatIf& settings, bool pressure);

}  // namespace faultlab::replay

#endif  // FAULTLAB_ENGINE_REPLAY_CONFIG_H_
