// Every metric family faultlab-agent exports (its /metrics), declared once:
// name, type, help, labels. docs/agent.md explains each.
#ifndef FAULTLAB_AGENTS_FAMILIES_H_
#define FAULTLAB_AGENTS_FAMILIES_H_

#include <vector>

#include "lib/metrics/family.h"

namespace faultlab::agent::families {

// Every family is labelled `board`; uploads also `result`.
extern const metrics::Family kRunsRecorded;
extern const metrics::Family kEventsRecorded;
extern const metrics::Family kRecordFailures;
extern const metrics::Family kChunksAcked;
extern const metrics::Family kUploads;  // + result: ok, failed, rejected
extern const metrics::Family kSpoolBytes;
extern const metrics::Family kSpoolTraces;
extern const metrics::Family kSpoolFull;
extern const metrics::Family kServerUp;
extern const metrics::Family kUploadFailuresInARow;
extern const metrics::Family kLastUpload;

// All of them, in docs/agent.md's order.
const std::vector<const metrics::Family*>& All();

}  // namespace faultlab::agent::families

#endif  // FAULTLAB_AGENTS_FAMILIES_H_
