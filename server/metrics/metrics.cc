#include "server/metrics/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

#include "absl/strings/str_cat.h"
#include "engine/trace/text.h"
#include "server/metrics/families.h"

namespace faultlab::server {
namespace {

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  prometheus::Histogram::BucketBoundaries b;
  for (int k = 0; k < ReplayTally::kBuckets; ++k) b.push_back(1e-6 * static_cast<double>(1 << k));
  return b;
}

const char* const kAllocKinds[] = {"", "page", "page_table", "metadata"};
const char* const kHeapGrowResults[] = {"grown", "refused"};  // ReplayTally::heap_grows
const char* const kOutcomes[] = {"identical", "diverged", "error"};
const char* const kVerdicts[] = {"regressed", "improved", "unchanged", "insufficient_baseline",
                                 "too_few_samples"};
const char* const kSources[] = {"recorded", "replayed"};

// A per-series family's labels: the series, then `more` (families.h).
prometheus::Labels Series(const metrics::Family& f, const SeriesLabels& l,
                          std::initializer_list<std::string> more = {}) {
  std::vector<std::string> values = {l.board, l.gpu, l.workload, l.variant, l.policy};
  values.insert(values.end(), more);
  return metrics::Labels(f, values);
}

}  // namespace

ServerMetrics::ServerMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  using namespace families;  // NOLINT: the list, name by name
  prometheus::Registry& r = *registry_;
  latency_ = &metrics::AddHistogram(r, kFaultLatency);
  alloc_failures_ = &metrics::AddCounter(r, kAllocFailures);
  heap_grows_ = &metrics::AddCounter(r, kHeapGrows);
  replays_ = &metrics::AddCounter(r, kReplays);
  nondeterminism_ = &metrics::AddCounter(r, kReplayNondeterminism).Add({});
  model_changed_ = &metrics::AddCounter(r, kReplaysModelChanged).Add({});
  chunks_ = &metrics::AddCounter(r, kIngestChunks).Add({});
  bytes_ = &metrics::AddCounter(r, kIngestBytes).Add({});
  rejections_ = &metrics::AddCounter(r, kIngestRejections);
  // Every reason exists at 0, so that a rate over them is defined from start.
  for (const char* reason :
       {"unauthenticated", "permission_denied", "too_many_streams", "chunk_too_large", "protocol",
        "damaged", "conflict", "out_of_order", "disk_full", "store_error", "cancelled", "quota"}) {
    rejections_->Add(metrics::Labels(kIngestRejections, {reason}));
  }
  active_streams_ = &metrics::AddGauge(r, kIngestActiveStreams).Add({});
  queue_depth_ = &metrics::AddGauge(r, kReplayQueueDepth).Add({});
  write_failures_ = &metrics::AddGauge(r, kStoreWriteFailures).Add({});
  replay_seconds_ = &metrics::AddHistogram(r, kReplayDuration)
                         .Add({}, prometheus::Histogram::BucketBoundaries{
                                      0.001, 0.004, 0.016, 0.064, 0.25, 1, 4, 16, 64});
  store_bytes_ = &metrics::AddGauge(r, kStoreBytes);
  verdicts_ = &metrics::AddCounter(r, kRegressionVerdicts);
  regressed_ = &metrics::AddGauge(r, kRegressionRegressed);
  cliffs_delta_ = &metrics::AddGauge(r, kRegressionEffectSize);
  run_latency_ = &metrics::AddGauge(r, kRunFaultLatency);
  what_ifs_ = &metrics::AddCounter(r, kWhatIfReplays);
  replay_errors_ = &metrics::AddCounter(r, kReplayErrors);
  // Every reason exists at 0 (a rate over them is defined from the start).
  for (const char* reason : kReplayErrorReasons) {
    replay_errors_->Add(metrics::Labels(kReplayErrors, {reason}));
  }
}

std::string ServerMetrics::Scrape() const {
  if (refresh_) refresh_();
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

void ServerMetrics::Rejected(const std::string& reason) {
  rejections_->Add(metrics::Labels(families::kIngestRejections, {reason})).Increment();
}

void ServerMetrics::AddReplayError(const std::string& reason) {
  replay_errors_->Add(metrics::Labels(families::kReplayErrors, {reason})).Increment();
}

void ServerMetrics::AddWhatIf(const std::string& outcome) {
  what_ifs_->Add(metrics::Labels(families::kWhatIfReplays, {outcome})).Increment();
}

prometheus::Gauge& ServerMetrics::store_bytes(const std::string& store) {
  return store_bytes_->Add(metrics::Labels(families::kStoreBytes, {store}));
}

void ServerMetrics::EnsureSeries(const SeriesLabels& l) {
  // A new series: its alloc-failure kinds and replay outcomes exist at 0.
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key =
      absl::StrCat(l.board, "\x1f", l.gpu, "\x1f", l.workload, "\x1f", l.variant, "\x1f", l.policy);
  if (!seen_.insert(key).second) return;
  for (const char* source : kSources) {
    for (int kind = 1; kind < 4; ++kind) {
      alloc_failures_->Add(Series(families::kAllocFailures, l, {source, kAllocKinds[kind]}));
    }
    for (const char* result : kHeapGrowResults)
      heap_grows_->Add(Series(families::kHeapGrows, l, {source, result}));
  }
  for (const char* o : kOutcomes) replays_->Add(Series(families::kReplays, l, {o}));
  for (const char* v : kVerdicts) verdicts_->Add(Series(families::kRegressionVerdicts, l, {v}));
}

void ServerMetrics::AddRun(const SeriesLabels& l, const ReplayTally& recorded,
                           const RunRecord& run) {
  EnsureSeries(l);
  AddLatencies(l, "recorded", recorded);
  verdicts_->Add(Series(families::kRegressionVerdicts, l, {run.verdict})).Increment();
  regressed_->Add(Series(families::kRegressionRegressed, l))
      .Set(run.verdict == "regressed" ? 1 : 0);
  cliffs_delta_->Add(Series(families::kRegressionEffectSize, l)).Set(run.cliffs_delta);
  for (auto [q, v] : {std::pair<const char*, uint64_t>{"0.5", run.p50_ns},
                      {"0.9", run.p90_ns},
                      {"0.99", run.p99_ns},
                      {"1", run.max_ns}}) {
    run_latency_->Add(Series(families::kRunFaultLatency, l, {q}))
        .Set(static_cast<double>(v) * 1e-9);
  }
}

void ServerMetrics::AddReplay(const SeriesLabels& l, const std::string& outcome,
                              const ReplayTally& t, double seconds) {
  EnsureSeries(l);
  replay_seconds_->Observe(seconds);
  if (outcome == "model_changed") {
    model_changed_->Increment();
  } else {
    replays_->Add(Series(families::kReplays, l, {outcome})).Increment();
  }
  AddLatencies(l, "replayed", t);
}

void ServerMetrics::AddLatencies(const SeriesLabels& l, const char* source, const ReplayTally& t) {
  for (int o = 1; o < ReplayTally::kOutcomes; ++o) {
    if (t.faults[o] == 0) continue;
    const std::string outcome(trace::FaultOutcomeName(static_cast<trace::FaultOutcome>(o)));
    std::vector<double> inc(t.buckets[o].begin(), t.buckets[o].end());
    latency_->Add(Series(families::kFaultLatency, l, {source, outcome}), LatencyBuckets())
        .ObserveMultiple(inc, static_cast<double>(t.latency_sum_ns[o]) * 1e-9);
  }
  for (int kind = 1; kind < 4; ++kind) {
    if (t.alloc_failures[kind] == 0) continue;
    alloc_failures_->Add(Series(families::kAllocFailures, l, {source, kAllocKinds[kind]}))
        .Increment(static_cast<double>(t.alloc_failures[kind]));
  }
  for (int i = 0; i < 2; ++i) {
    if (t.heap_grows[i] == 0) continue;
    heap_grows_->Add(Series(families::kHeapGrows, l, {source, kHeapGrowResults[i]}))
        .Increment(static_cast<double>(t.heap_grows[i]));
  }
}

}  // namespace faultlab::server
