// Rewriter: the what-if stage of a replay, between normalising and applying.
// A what-if (or a trace from another model version) runs the recorded
// inputs on a changed device, so the inputs are adapted to it:
//  - BO_CREATEs of alloc-on-fault BOs get the what-if granularity, clamped
//    (and counted) where it no longer fits the BO;
//  - BO_CREATEs of plain BOs that `aof=` selects become alloc-on-fault BOs
//    of `aof_granularity` (clamped the same way), counted with their bytes;
//  - recorded object ids become the replay's, and an input naming an object
//    whose creation failed here is skipped and counted (remap.h).
#ifndef FAULTLAB_ENGINE_REPLAY_REWRITE_H_
#define FAULTLAB_ENGINE_REPLAY_REWRITE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/base/variant.h"
#include "engine/replay/remap.h"
#include "engine/replay/what_if.h"
#include "engine/trace/event.h"
#include "engine/trace/reader.h"
#include "engine/uapi/panthor.h"
#include "engine/usermem/sim_user_memory.h"

namespace faultlab::replay {

// The label BO_SET_LABEL gives each BO_CREATE's BO before it is closed,
// by the BO_CREATE's position among the trace's BO_CREATEs (reads the
// whole trace: a label comes after the creation it selects).
absl::StatusOr<std::vector<std::optional<std::string>>> ScanBoLabels(trace::TraceReader& reader);

// A granule for a BO of `size`: `g` halved until it fits the BO — and, when
// `whole`, the size is a whole number of it — not below 4 KiB.
uint32_t FitGranule(uint64_t g, uint64_t size, bool whole);

// aof=: makes the plain BO `*bc` alloc-on-fault when `aof` selects it
// (`label`: the label it gets, nullptr for none), with a granule of at most
// `granularity` the BO's size is a whole number of (the series' fault
// handler refuses a granule reaching past the mapping). A BO under a page
// stays plain: the series refuses a granule above the size. False when
// `*bc` is left as it was.
bool ConvertToAof(const AofSelector& aof, uint64_t granularity, const std::string* label,
                  uapi::PanthorBoCreate* bc);

// A program's BOs made alloc-on-fault as it runs (the shim's FAULTLAB_AOF,
// the agent's --aof): the selector and the granule (empty: the default),
// or INVALID_ARGUMENT — `label=` cannot apply (a label comes after its BO's
// creation), nor can a variant without the series.
struct ProgramAof {
  AofSelector selector;
  uint64_t granularity;
};
absl::StatusOr<ProgramAof> ParseProgramAof(absl::string_view selector,
                                           absl::string_view granularity, Variant variant);

class Rewriter {
 public:
  explicit Rewriter(const WhatIf& what_if)
      : granularity_(what_if.granularity_bytes.value_or(0)),
        aof_(what_if.aof),
        aof_granularity_(what_if.aof_granularity_bytes.value_or(kDefaultAofGranularity)) {}

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
  // The label each BO_CREATE of the trace gets later (by its position
  // among the trace's BO_CREATEs; ScanBoLabels), for aof=label=TEXT.
  void set_labels(std::vector<std::optional<std::string>> labels) { labels_ = std::move(labels); }
  uint64_t aof_converted_bos() const { return converted_bos_; }
  uint64_t aof_converted_bytes() const { return converted_bytes_; }

 private:
  void Granularity(uint32_t request, std::string* arg);
  // FitGranule, counted when it had to change `g`.
  uint32_t Fit(uint64_t g, uint64_t size, bool whole);

  const uint64_t granularity_;  // 0: keep the recorded ones
  const std::optional<AofSelector> aof_;
  const uint64_t aof_granularity_;
  uint64_t clamped_ = 0;
  std::vector<std::optional<std::string>> labels_;
  uint64_t bo_creates_ = 0;  // BO_CREATEs seen: the next one's position
  uint64_t converted_bos_ = 0;
  uint64_t converted_bytes_ = 0;
  Remapper remapper_;
};

}  // namespace faultlab::replay

#endif  // FAULTLAB_ENGINE_REPLAY_REWRITE_H_
