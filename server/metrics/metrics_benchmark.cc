// /metrics cost (./lab bench): scraping (collect + text serialization) a
// server that holds about 10 000 series — 200 (board, workload) series, each
// with its latency histograms (handled, enomem), alloc-failure kinds and
// replay outcomes.
#include <benchmark/benchmark.h>

#include <string>

#include "server/metrics/metrics.h"

namespace faultlab::server {
namespace {

void BM_Scrape10kSeries(benchmark::State& state) {
  ServerMetrics m;
  ReplayTally t;
  trace::Event e;
  e.kind = trace::EVENT_MMU_FAULT;
  for (int o : {trace::FAULT_HANDLED, trace::FAULT_ENOMEM}) {
    e.fault.outcome = static_cast<trace::FaultOutcome>(o);
    e.fault.latency_ns = 35000;
    t.Add(e);
  }
  e.kind = trace::EVENT_ALLOC_FAILURE;
  e.alloc_failure.kind = trace::ALLOC_PAGE;
  t.Add(e);
  for (int b = 0; b < 10; ++b) {
    for (int w = 0; w < 20; ++w) {
      m.AddReplay({"board" + std::to_string(b), "g610", "wl" + std::to_string(w), "series-fixed",
                   "noretry"},
                  "identical", t, 0.01);
    }
  }
  // Per series: 2 histograms x (22 buckets + sum + count) + 3 + 3 counters = 54 samples.
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = m.Scrape();
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["series_samples"] = 200 * 54;
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Scrape10kSeries)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace faultlab::server
