#include "server/metrics/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

#include "absl/strings/str_cat.h"
#include "engine/trace/text.h"

namespace faultlab::server {
namespace {

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  prometheus::Histogram::BucketBoundaries b;
  for (int k = 0; k < ReplayTally::kBuckets; ++k) b.push_back(1e-6 * static_cast<double>(1 << k));
  return b;
}

const char* const kAllocKinds[] = {"", "page", "page_table", "metadata"};
const char* const kOutcomes[] = {"identical", "diverged", "error"};
const char* const kVerdicts[] = {"regressed", "improved", "unchanged", "insufficient_baseline",
                                 "too_few_samples"};
const char* const kSources[] = {"recorded", "replayed"};

prometheus::Labels Base(const SeriesLabels& l) {
  return {{"board", l.board},       {"gpu", l.gpu},       {"workload", l.workload},
          {"variant", l.variant},   {"policy", l.policy}};
}

}  // namespace

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
  }
}

ServerMetrics::ServerMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  latency_ = &prometheus::BuildHistogram()
                  .Name("faultlab_fault_latency_seconds")
                  .Help("GPU page-fault latency by outcome; source=replayed is computed by the twin")
                  .Register(*registry_);
  alloc_failures_ = &prometheus::BuildCounter()
                         .Name("faultlab_alloc_failures_total")
                         .Help("Allocation failures in the fault path, by kind")
                         .Register(*registry_);
  replays_ = &prometheus::BuildCounter()
                  .Name("faultlab_replays_total")
                  .Help("Replays by outcome (diverged: disagrees with the recording)")
                  .Register(*registry_);
  nondeterminism_ = &prometheus::BuildCounter()
                         .Name("faultlab_replay_nondeterminism_total")
                         .Help("Two replays of one trace that disagreed with each other (must stay 0)")
                         .Register(*registry_)
                         .Add({});
  model_changed_ = &prometheus::BuildCounter()
                        .Name("faultlab_replays_model_changed_total")
                        .Help("Replays of traces recorded by another model version (not compared)")
                        .Register(*registry_)
                        .Add({});
  chunks_ = &prometheus::BuildCounter()
                 .Name("faultlab_ingest_chunks_total")
                 .Help("Trace chunks acknowledged (durably stored)")
                 .Register(*registry_)
                 .Add({});
  bytes_ = &prometheus::BuildCounter()
                .Name("faultlab_ingest_bytes_total")
                .Help("Bytes of acknowledged chunks")
                .Register(*registry_)
                .Add({});
  rejections_ = &prometheus::BuildCounter()
                     .Name("faultlab_ingest_rejections_total")
                     .Help("Upload streams refused or ended with an error, by reason (docs/metrics.md)")
                     .Register(*registry_);
  // Every reason exists at 0, so that a rate over them is defined from start.
  for (const char* reason : {"unauthenticated", "permission_denied", "too_many_streams",
                             "chunk_too_large", "protocol", "damaged", "conflict", "out_of_order",
                             "disk_full", "store_error", "cancelled"}) {
    rejections_->Add({{"reason", reason}});
  }
  active_streams_ = &prometheus::BuildGauge()
                         .Name("faultlab_ingest_active_streams")
                         .Help("Upload streams open now")
                         .Register(*registry_)
                         .Add({});
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("faultlab_replay_queue_depth")
                      .Help("Traces waiting for a replay worker")
                      .Register(*registry_)
                      .Add({});
  write_failures_ = &prometheus::BuildGauge()
                         .Name("faultlab_store_write_failures")
                         .Help("Store writes that failed (disk full included) since start")
                         .Register(*registry_)
                         .Add({});
  replay_seconds_ = &prometheus::BuildHistogram()
                         .Name("faultlab_replay_duration_seconds")
                         .Help("Wall time of one replay on a worker")
                         .Register(*registry_)
                         .Add({}, prometheus::Histogram::BucketBoundaries{
                                      0.001, 0.004, 0.016, 0.064, 0.25, 1, 4, 16, 64});
  store_bytes_ = &prometheus::BuildGauge()
                      .Name("faultlab_store_bytes")
                      .Help("Bytes the store holds on disk (trace blobs and database), by store: "
                            "replicas of one store report the same series")
                      .Register(*registry_);
  verdicts_ = &prometheus::BuildCounter()
                   .Name("faultlab_regression_verdicts_total")
                   .Help("Runs judged against their series' baseline, by verdict")
                   .Register(*registry_);
  regressed_ = &prometheus::BuildGauge()
                    .Name("faultlab_regression_regressed")
                    .Help("1 when the series' latest run regressed against its baseline, else 0")
                    .Register(*registry_);
  cliffs_delta_ = &prometheus::BuildGauge()
                       .Name("faultlab_regression_effect_size")
                       .Help("Cliff's delta of the latest run's fault latencies against its baseline "
                             "(positive: slower)")
                       .Register(*registry_);
  run_latency_ = &prometheus::BuildGauge()
                      .Name("faultlab_run_fault_latency_seconds")
                      .Help("Recorded fault latency quantiles of the series' latest run")
                      .Register(*registry_);
  what_ifs_ = &prometheus::BuildCounter()
                   .Name("faultlab_whatif_replays_total")
                   .Help("What-if cells replayed on request (Replay RPC), by outcome")
                   .Register(*registry_);
}

std::string ServerMetrics::Scrape() const {
  if (refresh_) refresh_();
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

void ServerMetrics::Rejected(const std::string& reason) {
  rejections_->Add({{"reason", reason}}).Increment();
}

void ServerMetrics::EnsureSeries(const SeriesLabels& l) {
  // A new series: its alloc-failure kinds and replay outcomes exist at 0.
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key = absl::StrCat(l.board, "\x1f", l.gpu, "\x1f", l.workload, "\x1f",
                                       l.variant, "\x1f", l.policy);
  if (!seen_.insert(key).second) return;
  for (const char* source : kSources) {
    for (int kind = 1; kind < 4; ++kind) {
      prometheus::Labels lb = Base(l);
      lb["source"] = source;
      lb["kind"] = kAllocKinds[kind];
      alloc_failures_->Add(lb);
    }
  }
  for (const char* o : kOutcomes) {
    prometheus::Labels lb = Base(l);
    lb["outcome"] = o;
    replays_->Add(lb);
  }
  for (const char* v : kVerdicts) {
    prometheus::Labels lb = Base(l);
    lb["verdict"] = v;
    verdicts_->Add(lb);
  }
}

void ServerMetrics::AddRun(const SeriesLabels& l, const ReplayTally& recorded, const RunRecord& run) {
  EnsureSeries(l);
  AddLatencies(l, "recorded", recorded);
  prometheus::Labels lb = Base(l);
  lb["verdict"] = run.verdict;
  verdicts_->Add(lb).Increment();
  regressed_->Add(Base(l)).Set(run.verdict == "regressed" ? 1 : 0);
  cliffs_delta_->Add(Base(l)).Set(run.cliffs_delta);
  for (auto [q, v] : {std::pair<const char*, uint64_t>{"0.5", run.p50_ns}, {"0.9", run.p90_ns},
                      {"0.99", run.p99_ns}, {"1", run.max_ns}}) {
    prometheus::Labels ql = Base(l);
    ql["quantile"] = q;
    run_latency_->Add(ql).Set(static_cast<double>(v) * 1e-9);
  }
}

void ServerMetrics::AddReplay(const SeriesLabels& l, const std::string& outcome,
                              const ReplayTally& t, double seconds) {
  EnsureSeries(l);
  replay_seconds_->Observe(seconds);
  if (outcome == "model_changed") {
    model_changed_->Increment();
  } else {
    prometheus::Labels lb = Base(l);
    lb["outcome"] = outcome;
    replays_->Add(lb).Increment();
  }
  AddLatencies(l, "replayed", t);
}

void ServerMetrics::AddLatencies(const SeriesLabels& l, const char* source, const ReplayTally& t) {
  for (int o = 1; o < ReplayTally::kOutcomes; ++o) {
    if (t.faults[o] == 0) continue;
    prometheus::Labels lb = Base(l);
    lb["source"] = source;
    lb["outcome"] = std::string(trace::FaultOutcomeName(static_cast<trace::FaultOutcome>(o)));
    std::vector<double> inc(t.buckets[o].begin(), t.buckets[o].end());
    latency_->Add(lb, LatencyBuckets())
        .ObserveMultiple(inc, static_cast<double>(t.latency_sum_ns[o]) * 1e-9);
  }
  for (int kind = 1; kind < 4; ++kind) {
    if (t.alloc_failures[kind] == 0) continue;
    prometheus::Labels lb = Base(l);
    lb["source"] = source;
    lb["kind"] = kAllocKinds[kind];
    alloc_failures_->Add(lb).Increment(static_cast<double>(t.alloc_failures[kind]));
  }
}

}  // namespace faultlab::server
