// Every metric family faultlab-server exports, declared once (name, type,
// help, labels): registered from here, labelled through here, and the
// exposition checked against here (metrics_test). docs/metrics.md explains
// each; the headline ones are DESIGN contracts.
#ifndef FAULTLAB_SERVER_METRICS_FAMILIES_H_
#define FAULTLAB_SERVER_METRICS_FAMILIES_H_

#include <vector>

#include "lib/metrics/family.h"

namespace faultlab::server::families {

// The series labels, first in every per-series family: board, gpu,
// workload, variant, policy.
extern const metrics::Family kFaultLatency;   // + source, outcome
extern const metrics::Family kAllocFailures;  // + source, kind
extern const metrics::Family kHeapGrows;      // + source, result
extern const metrics::Family kReplays;        // + outcome
extern const metrics::Family kReplayNondeterminism;
extern const metrics::Family kReplayErrors;  // reason
extern const metrics::Family kReplaysModelChanged;
extern const metrics::Family kReplayDuration;
extern const metrics::Family kReplayQueueDepth;
extern const metrics::Family kIngestChunks;
extern const metrics::Family kIngestBytes;
extern const metrics::Family kIngestRejections;  // reason
extern const metrics::Family kIngestActiveStreams;
extern const metrics::Family kStoreWriteFailures;
extern const metrics::Family kStoreBytes;          // store
extern const metrics::Family kRegressionVerdicts;  // + verdict
extern const metrics::Family kRegressionRegressed;
extern const metrics::Family kRegressionEffectSize;
extern const metrics::Family kRunFaultLatency;  // + quantile
extern const metrics::Family kWhatIfReplays;    // outcome

// kReplayErrors' reasons: why a replay ended in error (replay/sandbox.h).
constexpr const char* kReplayErrorReasons[] = {"damaged", "crashed", "cpu_limit", "memory_limit",
                                               "timeout"};

// All of them, in docs/metrics.md's order.
const std::vector<const metrics::Family*>& All();

}  // namespace faultlab::server::families

#endif  // FAULTLAB_SERVER_METRICS_FAMILIES_H_
