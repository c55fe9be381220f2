// RunAnalyzer: turns every completed trace into a run — its recorded fault
// latencies measured, then judged against its series' baseline (the previous
// `baseline_runs` runs of the same board, gpu, workload, variant and policy)
// by CompareRuns, with FindChangePoint over the series' per-run p50s. The
// run, its verdict and its latencies are stored; verdicts and the recorded
// side of the headline metrics go to ServerMetrics (docs/regressions.md).
//
// One thread, taking the store's unanalysed traces in order
// (Store::PendingRuns), so a series' baseline is the same whatever the number
// of replay workers; with several replicas on one store only the one holding
// Store::LeadAnalysis analyses, so each run is judged once. Enqueue only wakes
// the thread; it looks again every second anyway (other replicas' uploads).
#ifndef FAULTLAB_SERVER_REGRESS_ANALYZER_H_
#define FAULTLAB_SERVER_REGRESS_ANALYZER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/metrics/metrics.h"
#include "server/store/store.h"

namespace faultlab::server {

struct AnalyzerOptions {
  uint64_t baseline_runs = 5;  // N: at least 5 (the flag refuses fewer)
  double alpha = 0.01;
  double min_effect = 0.2;            // |Cliff's delta|
  uint64_t change_point_window = 30;  // runs of the series the change point looks at
};

class RunAnalyzer {
 public:
  // `start_thread` false: only Analyze() (tests).
  RunAnalyzer(Store* store, ServerMetrics* metrics, AnalyzerOptions options,
              bool start_thread = true);
  ~RunAnalyzer();

  void Enqueue(const std::string& trace_id);
  absl::Status EnqueuePending();
  void WaitIdle();

  // Measures, judges and stores one run now. CANCELLED once Stop() is called.
  absl::StatusOr<RunRecord> Analyze(const std::string& trace_id);
  // Stops the thread soon, mid-trace if need be (server shutdown).
  void Stop();

 private:
  void Run();

  Store* store_;
  ServerMetrics* metrics_;
  AnalyzerOptions options_;
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  uint64_t wakeups_ = 0;
  bool drained_ = false;  // the last pass found nothing to analyse
  bool busy_ = false;
  // Traces that cannot be analysed (damaged): said once, not retried (the
  // thread's own). A store error is retried on the next pass.
  std::set<std::string> failed_;
  bool stop_ = false;
  std::atomic<bool> stopping_{false};  // Analyze() reads it between events
  std::thread thread_;
};

// The nearest-rank quantile (permille) of sorted values; 0 when empty.
uint64_t QuantileNs(const std::vector<uint64_t>& sorted, int permille);

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_REGRESS_ANALYZER_H_
