#include "agents/families.h"

namespace faultlab::agent::families {

using metrics::Type;

const metrics::Family kRunsRecorded{"faultlab_agent_runs_recorded_total",
                                    Type::kCounter,
                                    "Runs recorded into the spool (whole traces)",
                                    {"board"}};
const metrics::Family kEventsRecorded{"faultlab_agent_events_recorded_total",
                                      Type::kCounter,
                                      "Events in the recorded runs",
                                      {"board"}};
const metrics::Family kRecordFailures{
    "faultlab_agent_record_failures_total",
    Type::kCounter,
    "Recordings that failed (e.g. the spool's disk is full) and were retried",
    {"board"}};
const metrics::Family kChunksAcked{"faultlab_agent_chunks_acked_total",
                                   Type::kCounter,
                                   "Chunks the server acknowledged",
                                   {"board"}};
const metrics::Family kUploads{
    "faultlab_agent_uploads_total",
    Type::kCounter,
    "Upload attempts by result: ok, failed (retried), rejected (kept in rejected/)",
    {"board", "result"}};
const metrics::Family kSpoolBytes{"faultlab_agent_spool_bytes",
                                  Type::kGauge,
                                  "Bytes of traces in the spool, waiting for upload",
                                  {"board"}};
const metrics::Family kSpoolTraces{"faultlab_agent_spool_traces",
                                   Type::kGauge,
                                   "Traces in the spool, waiting for upload",
                                   {"board"}};
const metrics::Family kSpoolFull{"faultlab_agent_spool_full",
                                 Type::kGauge,
                                 "1 while recording is paused because the spool is full",
                                 {"board"}};
const metrics::Family kServerUp{"faultlab_agent_server_up",
                                Type::kGauge,
                                "1 when the last upload attempt reached the server",
                                {"board"}};
const metrics::Family kUploadFailuresInARow{
    "faultlab_agent_upload_failures_in_a_row",
    Type::kGauge,
    "Upload attempts that failed since the last one that succeeded",
    {"board"}};
const metrics::Family kLastUpload{"faultlab_agent_last_upload_timestamp_seconds",
                                  Type::kGauge,
                                  "Wall-clock time of the last completed upload (0: none yet)",
                                  {"board"}};

const std::vector<const metrics::Family*>& All() {
  static const std::vector<const metrics::Family*> all = {
      &kRunsRecorded, &kEventsRecorded,       &kRecordFailures, &kChunksAcked,
      &kUploads,      &kSpoolBytes,           &kSpoolTraces,    &kSpoolFull,
      &kServerUp,     &kUploadFailuresInARow, &kLastUpload};
  return all;
}

}  // namespace faultlab::agent::families
