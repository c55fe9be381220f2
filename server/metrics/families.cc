#include "server/metrics/families.h"

namespace faultlab::server::families {
namespace {

using metrics::Type;

std::vector<std::string> Series(std::initializer_list<std::string> more) {
  std::vector<std::string> l = {"board", "gpu", "workload", "variant", "policy"};
  l.insert(l.end(), more);
  return l;
}

}  // namespace

const metrics::Family kFaultLatency{
    "faultlab_fault_latency_seconds", Type::kHistogram,
    "GPU page-fault latency by outcome; source=replayed is computed by the twin",
    Series({"source", "outcome"})};
const metrics::Family kAllocFailures{"faultlab_alloc_failures_total", Type::kCounter,
                                     "Allocation failures in the fault path, by kind",
                                     Series({"source", "kind"})};
const metrics::Family kHeapGrows{
    "faultlab_heap_grows_total", Type::kCounter,
    "Tiler-heap growth on a tiler OOM: grown (a chunk granted) or refused (the job falls back "
    "to incremental rendering, or dies without an exception handler)",
    Series({"source", "result"})};
const metrics::Family kReplays{"faultlab_replays_total", Type::kCounter,
                               "Replays by outcome (diverged: disagrees with the recording)",
                               Series({"outcome"})};
const metrics::Family kReplayNondeterminism{
    "faultlab_replay_nondeterminism_total",
    Type::kCounter,
    "Two replays of one trace that disagreed with each other (must stay 0)",
    {}};
const metrics::Family kReplayErrors{
    "faultlab_replay_errors_total",
    Type::kCounter,
    "Replays that ended in error, by reason (damaged input, a crashed worker, a CPU or memory "
    "limit, a timeout)",
    {"reason"}};
const metrics::Family kRegressionVerdicts{"faultlab_regression_verdicts_total", Type::kCounter,
                                          "Runs judged against their series' baseline, by verdict",
                                          Series({"verdict"})};
const metrics::Family kRegressionRegressed{
    "faultlab_regression_regressed", Type::kGauge,
    "1 when the series' latest run regressed against its baseline, else 0", Series({})};
const metrics::Family kRegressionEffectSize{
    "faultlab_regression_effect_size", Type::kGauge,
    "Cliff's delta of the latest run's fault latencies against its baseline (positive: slower)",
    Series({})};
const metrics::Family kRunFaultLatency{"faultlab_run_fault_latency_seconds", Type::kGauge,
                                       "Recorded fault latency quantiles of the series' latest run",
                                       Series({"quantile"})};
const metrics::Family kWhatIfReplays{"faultlab_whatif_replays_total",
                                     Type::kCounter,
                                     "What-if cells replayed on request (Replay RPC), by outcome",
                                     {"outcome"}};
const metrics::Family kReplaysModelChanged{
    "faultlab_replays_model_changed_total",
    Type::kCounter,
    "Replays of traces recorded by another model version (not compared)",
    {}};
const metrics::Family kReplayDuration{"faultlab_replay_duration_seconds",
                                      Type::kHistogram,
                                      "Wall time of one replay on a worker",
                                      {}};
const metrics::Family kReplayQueueDepth{
    "faultlab_replay_queue_depth", Type::kGauge, "Traces waiting for a replay worker", {}};
const metrics::Family kIngestChunks{"faultlab_ingest_chunks_total",
                                    Type::kCounter,
                                    "Trace chunks acknowledged (durably stored)",
                                    {}};
const metrics::Family kIngestBytes{
    "faultlab_ingest_bytes_total", Type::kCounter, "Bytes of acknowledged chunks", {}};
const metrics::Family kIngestActiveStreams{
    "faultlab_ingest_active_streams", Type::kGauge, "Upload streams open now", {}};
const metrics::Family kIngestRejections{
    "faultlab_ingest_rejections_total",
    Type::kCounter,
    "Upload streams refused or ended with an error, by reason (docs/metrics.md)",
    {"reason"}};
const metrics::Family kStoreWriteFailures{
    "faultlab_store_write_failures",
    Type::kGauge,
    "Store writes that failed (disk full included) since start",
    {}};
const metrics::Family kStoreBytes{
    "faultlab_store_bytes",
    Type::kGauge,
    "Bytes the store holds on disk (trace blobs and database), by store: replicas of one store "
    "report the same series",
    {"store"}};

const std::vector<const metrics::Family*>& All() {
  static const std::vector<const metrics::Family*> all = {
      &kFaultLatency,         &kAllocFailures,    &kHeapGrows,          &kReplays,
      &kReplayNondeterminism, &kReplayErrors,     &kRegressionVerdicts, &kRegressionRegressed,
      &kRegressionEffectSize, &kRunFaultLatency,  &kWhatIfReplays,      &kReplaysModelChanged,
      &kReplayDuration,       &kReplayQueueDepth, &kIngestChunks,       &kIngestBytes,
      &kIngestActiveStreams,  &kIngestRejections, &kStoreWriteFailures, &kStoreBytes};
  return all;
}

}  // namespace faultlab::server::families
