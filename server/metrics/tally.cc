#include "server/metrics/tally.h"

namespace faultlab::server {

void ReplayTally::Add(const trace::Event& e) {
  if (e.kind == trace::EVENT_MMU_FAULT) {
    const int o = e.fault.outcome;
    if (o <= 0 || o >= kOutcomes) return;
    ++faults[o];
    // A board's unhandled fault seen only in its kernel log has no latency.
    if (e.fault.latency_source == trace::LATENCY_UNKNOWN) return;
    latency_sum_ns[o] += e.fault.latency_ns;
    int k = 0;
    while (k < kBuckets && e.fault.latency_ns > (1000ULL << k)) ++k;
    ++buckets[o][k];
  } else if (e.kind == trace::EVENT_ALLOC_FAILURE) {
    const int kind = e.alloc_failure.kind;
    if (kind > 0 && kind < 4) ++alloc_failures[kind];
  } else if (e.kind == trace::EVENT_HEAP_GROW) {
    ++heap_grows[e.heap_grow.granted_bytes > 0 ? 0 : 1];
  }
}

namespace {

// The counters in their fixed order, for both directions.
template <typename Tally, typename F>
void EachCounter(Tally& t, F f) {
  for (auto& row : t.buckets) {
    for (auto& n : row) f(n);
  }
  for (auto& n : t.latency_sum_ns) f(n);
  for (auto& n : t.faults) f(n);
  for (auto& n : t.alloc_failures) f(n);
  for (auto& n : t.heap_grows) f(n);
}

}  // namespace

std::vector<uint64_t> ReplayTally::Flatten() const {
  std::vector<uint64_t> v;
  EachCounter(*this, [&v](const uint64_t& n) { v.push_back(n); });
  return v;
}

bool ReplayTally::Unflatten(const std::vector<uint64_t>& v) {
  if (v.size() != Flatten().size()) return false;
  size_t i = 0;
  EachCounter(*this, [&](uint64_t& n) { n = v[i++]; });
  return true;
}

}  // namespace faultlab::server
