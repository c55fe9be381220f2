// PgStore: the Store's PostgreSQL dialect (libpq), shared by several
// faultlab-server replicas (docs/deploy.md). Metadata, the replay queue
// (leases, FOR UPDATE SKIP LOCKED) and results live in the database; trace
// bytes in a blob directory every replica mounts (--blob-dir).
//
// A trace's writer (store.h) is a transaction holding the trace's advisory
// lock, so one replica at a time writes it: lock, check, write and fsync the
// blob, insert the chunk row and commit (synchronous_commit on: durable at
// COMMIT), then acknowledge. An agent that reconnects to another replica resumes from the
// same rows. Analysis is led by the replica holding a session advisory lock,
// so each run is judged once, in completion order; if it dies, its
// connection closes and another replica takes the lead.
#ifndef FAULTLAB_SERVER_STORE_PG_STORE_H_
#define FAULTLAB_SERVER_STORE_PG_STORE_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/store/store.h"

typedef struct pg_conn PGconn;

namespace faultlab::server {

class PgStore : public Store {
 public:
  // `conninfo`: a libpq connection string ("host=... port=... dbname=...").
  // Migrates the schema (under an advisory lock: replicas may start together).
  static absl::StatusOr<std::unique_ptr<PgStore>> Open(const std::string& conninfo,
                                                       const std::string& blob_dir,
                                                       int connections = 8);
  ~PgStore() override;

  absl::StatusOr<TraceRecord> GetTrace(const std::string& trace_id) override;
  absl::StatusOr<std::vector<TraceRecord>> ListTraces() override;
  absl::Status SaveReplay(const std::string& trace_id, const std::string& outcome,
                          const std::string& report) override;
  absl::StatusOr<std::vector<std::string>> PendingReplays() override;
  absl::StatusOr<std::optional<std::string>> ClaimReplay(const std::string& owner,
                                                         uint64_t lease_ms) override;
  absl::StatusOr<bool> LeadAnalysis() override;
  absl::StatusOr<std::pair<std::string, std::string>> GetReplay(
      const std::string& trace_id) override;
  absl::Status SaveRun(RunRecord* run) override;
  absl::StatusOr<std::vector<RunRecord>> ListRuns(const RunFilter& filter) override;
  absl::StatusOr<RunRecord> GetRun(const std::string& trace_id, bool with_latencies) override;
  absl::StatusOr<std::vector<std::string>> PendingRuns() override;
  absl::Status SaveWhatIf(const std::string& trace_id, const WhatIfRecord& w) override;
  absl::StatusOr<WhatIfRecord> GetWhatIf(const std::string& trace_id, const std::string& settings,
                                         const std::string& mode) override;
  absl::Status SaveBoardProfile(BoardProfileRecord* p) override;
  absl::StatusOr<BoardProfileRecord> GetBoardProfile(const std::string& board) override;
  uint64_t SizeBytes() override;
  std::string Identity() const override { return identity_; }

  // The schema version this build writes, and a migration to an older one
  // (tests of upgrades).
  static int SchemaVersion();
  static absl::Status MigrateTo(const std::string& conninfo, int version);
  // OK when a connection can be made.
  static absl::Status Ping(const std::string& conninfo);

  class Conn;  // a pooled connection, returned on scope exit

 protected:
  absl::StatusOr<std::unique_ptr<TraceWriter>> LockTrace(const std::string& trace_id) override;

 private:
  class Writer;
  explicit PgStore(std::string blob_dir) : Store(std::move(blob_dir)) {}
  absl::StatusOr<Conn> Get();
  void Put(PGconn* c);
  // The first column (trace ids) of a parameterless query.
  absl::StatusOr<std::vector<std::string>> Ids(const char* sql, const char* what);

  std::string conninfo_;
  std::string identity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PGconn*> free_;
  std::vector<PGconn*> all_;
  PGconn* leader_ = nullptr;  // holds the analysis lock once taken
  bool leading_ = false;
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_STORE_PG_STORE_H_
