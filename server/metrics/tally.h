// ReplayTally: one replay's (or one recording's) fault and allocation-failure
// numbers, gathered without locks while it runs and added to the metrics
// once (metrics.h). Plain data: a sandboxed replay worker fills one and
// hands it back flattened (Flatten / Unflatten).
#ifndef FAULTLAB_SERVER_METRICS_TALLY_H_
#define FAULTLAB_SERVER_METRICS_TALLY_H_

#include <array>
#include <cstdint>
#include <vector>

#include "engine/trace/event.h"

namespace faultlab::server {

struct ReplayTally {
  static constexpr int kBuckets = 21;  // 1 us * 2^k, k = 0..20 (DESIGN)
  static constexpr int kOutcomes = 7;  // trace::FaultOutcome values
  std::array<std::array<uint64_t, kBuckets + 1>, kOutcomes> buckets{};  // + overflow
  std::array<uint64_t, kOutcomes> latency_sum_ns{};
  std::array<uint64_t, kOutcomes> faults{};
  std::array<uint64_t, 4> alloc_failures{};  // by trace::AllocKind
  std::array<uint64_t, 2> heap_grows{};      // grown, refused
  void Add(const trace::Event& e);

  // Every counter in a fixed order, and back (false: not a tally's length).
  std::vector<uint64_t> Flatten() const;
  bool Unflatten(const std::vector<uint64_t>& v);
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_METRICS_TALLY_H_
