// Synthetic traces: seeded, plausible event streams for tests, benchmarks and
// the demo before (and besides) the engine. They are NOT produced by any model;
// headers say so (capture source SYNTHETIC) and so does every tool that shows
// them.
//
//   SyntheticGenerator gen(Mix::kFaultHeavy, /*seed=*/1);
//   Event e;
//   for (int i = 0; i < n; ++i) { gen.Next(&e); writer.Append(e); }
#ifndef FAULTLAB_ENGINE_TRACE_SYNTHETIC_H_
#define FAULTLAB_ENGINE_TRACE_SYNTHETIC_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/base/prng.h"
#include "engine/trace/event.h"
#include "proto/trace.pb.h"

namespace faultlab::trace {

enum class Mix {
  kFaultHeavy,   // ~55% MMU faults, ~40% job accesses
  kAccessHeavy,  // ~90% job accesses
  kIoctlHeavy,   // ~85% ioctls with realistic argument structs
  kAllKinds,     // every event kind, evenly (golden tests)
};

absl::string_view MixName(Mix mix);
std::optional<Mix> ParseMix(absl::string_view name);

// A header for a synthetic trace: trace id derived from the seed, capture
// source SYNTHETIC, and a note saying what it is.
TraceHeader SyntheticHeader(Mix mix, uint64_t seed);

class SyntheticGenerator {
 public:
  SyntheticGenerator(Mix mix, uint64_t seed);

  // Fills `*e` with the next event. Byte fields point into the generator and
  // stay valid until the next call.
  void Next(Event* e);

 private:
  EventKind PickKind();
  void MakeIoctl(Event* e);
  void MakeAccess(Event* e);
  void MakeFault(Event* e);

  Mix mix_;
  Prng prng_;
  uint64_t now_ns_ = 0;
  uint64_t job_ = 1;
  uint64_t fault_cursor_ = 0;
  uint64_t access_cursor_ = 0;
  uint64_t frame_ = 0;
  uint32_t next_handle_ = 1;
  std::string arg_in_, arg_out_, user_in_, user_out_, words_;
};

}  // namespace faultlab::trace

#endif  // FAULTLAB_ENGINE_TRACE_SYNTHETIC_H_
