// Store: where the server keeps traces, durably (DESIGN "Services"; issue 7).
//
// A trace is stored as the exact bytes of its file — the preamble and header
// frame, then its chunk frames in order — so a stored trace is byte for byte
// the agent's. Uploads are resumable and idempotent by (trace id, chunk
// index): a chunk is acknowledged only when AppendChunk returns OK, and by
// then it is on stable storage; after a crash at any moment every
// acknowledged chunk is still there and an unfinished upload resumes at its
// first unacknowledged chunk.
//
//   ASSIGN_OR_RETURN(auto store, SqliteStore::Open(data_dir));
//   ASSIGN_OR_RETURN(UploadState s, store->BeginTrace(preamble_and_header));
//   for (i = s.next_chunk; ...) RETURN_IF_ERROR(store->AppendChunk(s.trace_id, i, frame));
#ifndef FAULTLAB_SERVER_STORE_STORE_H_
#define FAULTLAB_SERVER_STORE_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/trace/io.h"
#include "proto/trace.pb.h"

namespace faultlab::server {

struct UploadState {
  std::string trace_id;     // 16 bytes, from the header
  uint64_t next_chunk = 0;  // the resume point: the first chunk not yet acknowledged
  bool complete = false;    // the final chunk is stored
};

struct TraceRecord {
  std::string trace_id;
  trace::TraceHeader header;
  uint64_t chunks = 0;  // acknowledged
  uint64_t events = 0;
  uint64_t bytes = 0;  // stored, preamble and header included
  bool complete = false;
  uint64_t sequence = 0;  // arrival order of the first upload, from 1
};

// A run: one complete trace, measured (its recorded fault latencies) and
// judged against the previous runs of its series (server/regress,
// docs/regressions.md).
struct RunRecord {
  std::string trace_id;
  uint64_t run = 0;                                   // analysis order, from 1 (SaveRun assigns it)
  std::string board, gpu, workload, variant, policy;  // the series
  uint64_t faults = 0;                                // with a latency (every outcome)
  uint64_t alloc_failures = 0;                        // in the fault path, every kind
  uint64_t p50_ns = 0, p90_ns = 0, p99_ns = 0, max_ns = 0;
  // regressed | improved | unchanged | insufficient_baseline | too_few_samples
  std::string verdict;
  uint64_t baseline_runs = 0;  // how many earlier runs formed the baseline
  double p_value = 1, cliffs_delta = 0, median_ratio = 1;
  // Over the series up to this run: the first run after a significant level
  // shift of per-run p50s, or empty.
  std::string change_point;
  std::vector<uint64_t> latencies;  // sorted, ns; only when asked for
};

struct RunFilter {
  std::string board, gpu, workload, variant, policy;  // empty: any
  uint64_t limit = 0;                                 // 0: all; else the newest `limit`
  bool with_latencies = false;
};

// A what-if result (Replay RPC): one cell of a matrix.
struct WhatIfRecord {
  std::string settings;  // "key=value,key=value" in request order
  std::string mode;      // open | rerun
  std::string outcome;
  std::string report;
};

// A board's calibrated profile (docs/cost-model.md "Calibration on the
// server"): the server fits one from the board's traces with a fault
// stream, keeps the newest, and replays the board's traces with its costs.
struct BoardProfileRecord {
  std::string board;
  std::string base;      // the profile it was fitted on: its traces'
  std::string id;        // the profile's id (in `text`)
  std::string text;      // the profile file
  std::string fit;       // what the fit said (calibrate::Calibration::Summary)
  uint64_t through = 0;  // the newest trace it used (TraceRecord::sequence)
  uint64_t version = 0;  // 1, 2, ... per board (the store assigns it)
};

// The store: one upload protocol (store.cc, below), written once over a
// metadata *dialect* — SQLite (sqlite_store.h) or PostgreSQL (pg_store.h) —
// and a blob directory. A dialect supplies a trace's exclusive writer
// (TraceWriter) and the queries; the protocol's checks, messages, write
// order and failure counting are the same whatever the database.
// //server/store:store_contract_test holds every dialect to this contract.
class Store {
 public:
  virtual ~Store() = default;

  // ---- The upload protocol (the same on every dialect). ----

  // Starts an upload, or resumes one: `head` is the trace's preamble and
  // header frame. The same trace id with a different head is refused
  // (ALREADY_EXISTS); a damaged head is INVALID_ARGUMENT.
  absl::StatusOr<UploadState> BeginTrace(const std::string& head);

  // Appends chunk frame `index` of `trace_id`. OK means durable. An index
  // already acknowledged with the same bytes is OK again (idempotent); other
  // bytes are ALREADY_EXISTS; an index past the resume point is
  // FAILED_PRECONDITION naming the one expected; a damaged frame, or one of
  // another trace or index, INVALID_ARGUMENT; an unknown trace NOT_FOUND; a
  // write that fails (disk full included) RESOURCE_EXHAUSTED or UNAVAILABLE,
  // with nothing acknowledged. Two uploads of one trace at once (an agent
  // that reconnected while its old stream lingers) take turns: the second
  // waits for the first's chunk, then finds it stored.
  absl::Status AppendChunk(const std::string& trace_id, uint64_t index, const std::string& frame);

  // The stored bytes of the trace (acknowledged chunks only).
  absl::StatusOr<std::unique_ptr<trace::ByteSource>> OpenTrace(const std::string& trace_id);
  // Where they are: the blob file, whose first `bytes` are acknowledged (a
  // sandboxed replay worker reads them there).
  struct StoredFile {
    std::string path;
    uint64_t bytes = 0;
  };
  absl::StatusOr<StoredFile> TraceFile(const std::string& trace_id);

  // Writes that failed (disk full included) since the store was opened.
  uint64_t write_failures() const { return write_failures_.load(); }
  // What went wrong if the last write failed, else "" (/healthz says it).
  std::string WriteProblem() const;

  // ---- Queries and results (each dialect's). ----

  virtual absl::StatusOr<TraceRecord> GetTrace(const std::string& trace_id) = 0;
  // In arrival order.
  virtual absl::StatusOr<std::vector<TraceRecord>> ListTraces() = 0;
  // A replay's result: outcome (`identical`, `diverged`, `model_changed`,
  // `error`) and its report text; one per trace, stored once: the first
  // wins, a later one is ALREADY_EXISTS (another replica was first).
  virtual absl::Status SaveReplay(const std::string& trace_id, const std::string& outcome,
                                  const std::string& report) = 0;
  // The replay queue, shared by every server on this store: the oldest
  // complete trace without a saved replay that no live lease holds, leased
  // to `owner` for `lease_ms` (a replica that dies loses its leases when
  // they expire, and the work is taken over). nullopt: nothing to do.
  virtual absl::StatusOr<std::optional<std::string>> ClaimReplay(const std::string& owner,
                                                                 uint64_t lease_ms) = 0;
  // True while this process is the one that analyses runs (one at a time
  // per store, so that each run is judged once, in order).
  virtual absl::StatusOr<bool> LeadAnalysis() { return true; }
  // Complete traces without a saved replay, in arrival order (work left by a
  // restart).
  virtual absl::StatusOr<std::vector<std::string>> PendingReplays() = 0;
  // The saved replay's outcome and report; NOT_FOUND if none yet.
  virtual absl::StatusOr<std::pair<std::string, std::string>> GetReplay(
      const std::string& trace_id) = 0;
  // Records a run; assigns `run->run`. A second run of one trace (a restart
  // between save and ack) replaces its measurements and judgement and keeps
  // its run number, so its place in the series does not move.
  virtual absl::Status SaveRun(RunRecord* run) = 0;
  // Runs matching `filter`, oldest first.
  virtual absl::StatusOr<std::vector<RunRecord>> ListRuns(const RunFilter& filter) = 0;
  // NOT_FOUND if the trace has no run yet.
  virtual absl::StatusOr<RunRecord> GetRun(const std::string& trace_id, bool with_latencies) = 0;
  // Complete traces without a run, in completion order (each series'
  // baseline is the runs completed before it).
  virtual absl::StatusOr<std::vector<std::string>> PendingRuns() = 0;
  // Stored once per (trace, settings, mode): a later save keeps the first
  // (replays are deterministic: they are equal).
  virtual absl::Status SaveWhatIf(const std::string& trace_id, const WhatIfRecord& w) = 0;
  // NOT_FOUND when that cell was never computed.
  virtual absl::StatusOr<WhatIfRecord> GetWhatIf(const std::string& trace_id,
                                                 const std::string& settings,
                                                 const std::string& mode) = 0;
  // Keeps `p` as its board's profile unless the one kept used a trace as new
  // or newer (then ALREADY_EXISTS: a calibration that finished later but
  // saw less); assigns p->version, one more than the one it replaces.
  virtual absl::Status SaveBoardProfile(BoardProfileRecord* p) = 0;
  // NOT_FOUND when the board has none.
  virtual absl::StatusOr<BoardProfileRecord> GetBoardProfile(const std::string& board) = 0;
  // Bytes on disk: blobs and database.
  virtual uint64_t SizeBytes() = 0;
  // Which store this is ("sqlite:DIR", "postgres:HOST:PORT/DB"): replicas of
  // one store say the same, so dashboards count it once.
  virtual std::string Identity() const = 0;

 protected:
  explicit Store(std::string blob_dir) : blob_dir_(std::move(blob_dir)) {}

  // What the protocol reads of a trace's row.
  struct TraceRow {
    std::string head;
    uint64_t chunks = 0;  // acknowledged
    uint64_t bytes = 0;   // committed length of the blob
    bool complete = false;
  };
  // A stored chunk, as much as a resend is compared with.
  struct ChunkRow {
    uint64_t size = 0;
    uint32_t crc = 0;  // CRC-32C of the whole frame
  };
  // A chunk to record: its blob bytes are durable at [offset, offset + size).
  struct NewChunk {
    uint64_t index, offset, size;
    uint32_t crc, events;
    bool final;
  };
  // The one writer of a trace, across every server on the store, for as
  // long as it lives (SQLite: a claim in this process — one process holds a
  // SQLite store; PostgreSQL: a transaction holding the trace's advisory
  // lock). Each method is the dialect's; the protocol decides the order.
  class TraceWriter {
   public:
    virtual ~TraceWriter() = default;
    // The trace's row; nullopt when the trace is unknown.
    virtual absl::StatusOr<std::optional<TraceRow>> Find() = 0;
    // Chunk `index`, below the trace's chunk count.
    virtual absl::StatusOr<ChunkRow> Chunk(uint64_t index) = 0;
    // Records a new trace whose blob (the head) is durable; durable on OK.
    virtual absl::Status Insert(const trace::TraceHeader& header, const std::string& head) = 0;
    // Records the chunk and the trace's new length, counts and completeness
    // in one transaction; durable on OK.
    virtual absl::Status Commit(const NewChunk& chunk) = 0;
  };
  // Waits until this caller is the trace's one writer.
  virtual absl::StatusOr<std::unique_ptr<TraceWriter>> LockTrace(const std::string& trace_id) = 0;

  const std::string& blob_dir() const { return blob_dir_; }

 private:
  std::string BlobPath(const std::string& trace_id) const;

  // Counts a failed write and keeps what it was, or clears it after one that worked.
  void NoteWrite(const absl::Status& s);

  const std::string blob_dir_;  // one file per trace: <hex id>.fltrace
  std::atomic<uint64_t> write_failures_{0};
  mutable std::mutex problem_mu_;
  std::string write_problem_;  // under problem_mu_
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_STORE_STORE_H_
