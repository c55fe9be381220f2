// ServerMetrics: the server's Prometheus families (declared in families.h;
// docs/metrics.md; the headline ones are DESIGN contracts). Replays are pre-aggregated per trace
// (ReplayTally) and added once, so no lock is taken per event.
#ifndef FAULTLAB_SERVER_METRICS_METRICS_H_
#define FAULTLAB_SERVER_METRICS_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "engine/trace/event.h"
#include "server/metrics/tally.h"
#include "server/store/store.h"

namespace faultlab::server {

// The series a trace belongs to.
struct SeriesLabels {
  std::string board, gpu, workload, variant, policy;
};

class ServerMetrics {
 public:
  ServerMetrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // The text exposition of everything (after running the refresh hook).
  std::string Scrape() const;
  // Runs before every scrape, e.g. to set gauges read from elsewhere (the
  // store's size). Set once, before serving.
  void set_refresh(std::function<void()> refresh) { refresh_ = std::move(refresh); }

  // A finished replay: `outcome` is identical, diverged or error (DESIGN);
  // model_changed counts in faultlab_replays_model_changed_total instead.
  void AddReplay(const SeriesLabels& labels, const std::string& outcome, const ReplayTally& tally,
                 double seconds);
  void AddNondeterminism() { nondeterminism_->Increment(); }
  // A replay that ended in error, and why (families::kReplayErrorReasons).
  void AddReplayError(const std::string& reason);
  // A run analysed (server/regress): the recorded side of the headline
  // families (source="recorded") and the run's regression verdict.
  void AddRun(const SeriesLabels& labels, const ReplayTally& recorded, const RunRecord& run);
  // Replays of what-if cells asked for through the Replay RPC.
  void AddWhatIf(const std::string& outcome);

  // Ingest and store health.
  void ChunkAcked(uint64_t bytes) {
    chunks_->Increment();
    bytes_->Increment(static_cast<double>(bytes));
  }
  void Rejected(const std::string& reason);
  prometheus::Gauge& active_streams() { return *active_streams_; }
  prometheus::Gauge& replay_queue_depth() { return *queue_depth_; }
  prometheus::Gauge& store_write_failures() { return *write_failures_; }
  // The store's size, labelled by its identity (Store::Identity).
  prometheus::Gauge& store_bytes(const std::string& store);

 private:
  void EnsureSeries(const SeriesLabels& l);
  void AddLatencies(const SeriesLabels& l, const char* source, const ReplayTally& t);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Family<prometheus::Counter>* alloc_failures_;
  prometheus::Family<prometheus::Counter>* heap_grows_;
  prometheus::Family<prometheus::Counter>* replays_;
  prometheus::Counter* nondeterminism_;
  prometheus::Counter* model_changed_;
  prometheus::Counter* chunks_;
  prometheus::Counter* bytes_;
  prometheus::Family<prometheus::Counter>* rejections_;
  prometheus::Gauge* active_streams_;
  prometheus::Gauge* queue_depth_;
  prometheus::Gauge* write_failures_;
  prometheus::Histogram* replay_seconds_;
  prometheus::Family<prometheus::Gauge>* store_bytes_;
  prometheus::Family<prometheus::Counter>* verdicts_;
  prometheus::Family<prometheus::Gauge>* regressed_;
  prometheus::Family<prometheus::Gauge>* cliffs_delta_;
  prometheus::Family<prometheus::Gauge>* run_latency_;
  prometheus::Family<prometheus::Counter>* what_ifs_;
  prometheus::Family<prometheus::Counter>* replay_errors_;
  std::function<void()> refresh_;
  std::mutex mu_;  // the set of series seen
  std::set<std::string> seen_;
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_METRICS_METRICS_H_
