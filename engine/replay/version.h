// Versions written into every trace header.
#ifndef FAULTLAB_ENGINE_REPLAY_VERSION_H_
#define FAULTLAB_ENGINE_REPLAY_VERSION_H_

#include <cstdint>

namespace faultlab::replay {

// Bumped whenever modelled behaviour changes (a rule, a cost, an event's
// meaning): a trace recorded by another model version replays as
// `model_changed` instead of diverging.
// 2: state hash over an incremental leaf hash. 3: the series' variants report
// driver 1.6 (BO_SET_LABEL, SET_USER_MMIO_OFFSET modelled), mainline 1.7.
// 4: the whole v10 command-stream ISA — registers kept from job to job, the
// RUN_* family's footprints, draws' polygon lists in the tiler heap.
constexpr uint32_t kModelVersion = 4;
constexpr char kEngineVersion[] = "faultlab-engine 0.3";

}  // namespace faultlab::replay

#endif  // FAULTLAB_ENGINE_REPLAY_VERSION_H_
