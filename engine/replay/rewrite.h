// Rewriter: the what-if stage of a replay, between normalising and applying.
// A what-if (or a trace from another model version) runs the recorded
// inputs on a changed device, so the inputs are adapted to it:
//  - BO_CREATEs of alloc-on-fault BOs get the what-if granularity, clamped
//    (and counted) where it no longer fits the BO;
//  - recorded object ids become the replay's, and an input naming an object
//    whose creation failed here is skipped and counted (remap.h).
#ifndef FAULTLAB_ENGINE_REPLAY_REWRITE_H_
#define FAULTLAB_ENGINE_REPLAY_REWRITE_H_

#include <cstdint>
#include <string>

#include "engine/replay/remap.h"
#include "engine/replay/what_if.h"
#include "engine/trace/event.h"
#include "engine/usermem/sim_user_memory.h"

namespace faultlab::replay {

class Rewriter {
 public:
  explicit Rewriter(const WhatIf& what_if) : granularity_(what_if.granularity_bytes.value_or(0)) {}

  // Rewrites `*arg`, the argument `io` is replayed with (and the arrays it
  // points at, already in `mem`). False: it names an object whose creation
  // failed here; skip it.
  bool Ioctl(const trace::Ioctl& io, std::string* arg, SimUserMemory& mem);
  // After an ioctl ran (`result`, `out`: its argument as the replay left
  // it), or was skipped (`result` -1): what it created.
  void Learn(const trace::Ioctl& io, int result, const std::string& out) {
    remapper_.Learn(io, result, out);
  }
  // A job's group. False: the group's creation failed; skip the job.
  bool MapGroup(uint32_t file, uint32_t* group) const { return remapper_.MapGroup(file, group); }

  uint64_t remapped() const { return remapper_.remapped(); }
  uint64_t granularity_clamped() const { return clamped_; }

 private:
  void Granularity(uint32_t request, std::string* arg);

  const uint64_t granularity_;  // 0: keep the recorded ones
  uint64_t clamped_ = 0;
  Remapper remapper_;
};

}  // namespace faultlab::replay

#endif  // FAULTLAB_ENGINE_REPLAY_REWRITE_H_
