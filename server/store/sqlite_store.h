// SqliteStore: the embedded dialect of the Store — SQLite (WAL,
// synchronous=FULL) for metadata, one blob file per trace under
// DATA_DIR/blobs/ for its bytes. One process holds a SQLite store.
//
// A trace's writer is a claim in this process (a second upload of the trace
// waits for it); the blob is written and fsynced outside the database lock,
// so uploads of different traces overlap their fsyncs; chunk rows are
// group-committed (one WAL fsync for every chunk queued meanwhile).
#ifndef FAULTLAB_SERVER_STORE_SQLITE_STORE_H_
#define FAULTLAB_SERVER_STORE_SQLITE_STORE_H_

#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "server/store/store.h"

namespace faultlab::server {

class SqliteStore : public Store {
 public:
  // Creates DATA_DIR (and its blobs/) if missing, opens DATA_DIR/faultlab.db
  // and brings its schema up to the current version.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& data_dir);
  ~SqliteStore() override;

  absl::StatusOr<TraceRecord> GetTrace(const std::string& trace_id) override;
  absl::StatusOr<std::vector<TraceRecord>> ListTraces() override;
  absl::Status SaveReplay(const std::string& trace_id, const std::string& outcome,
                          const std::string& report) override;
  absl::StatusOr<std::vector<std::string>> PendingReplays() override;
  absl::StatusOr<std::optional<std::string>> ClaimReplay(const std::string& owner,
                                                         uint64_t lease_ms) override;
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
  std::string Identity() const override { return "sqlite:" + dir_; }

  // The schema version this build writes (migrations in sqlite_store.cc).
  static int SchemaVersion();

 protected:
  absl::StatusOr<std::unique_ptr<TraceWriter>> LockTrace(const std::string& trace_id) override;

 private:
  class Writer;
  SqliteStore(std::string data_dir, sqlite3* db)
      : Store(data_dir + "/blobs"), dir_(std::move(data_dir)), db_(db) {}
  absl::Status Exec(const std::string& sql);
  absl::Status Migrate();
  absl::StatusOr<TraceRecord> GetLocked(const std::string& trace_id);
  absl::StatusOr<std::vector<std::string>> Ids(const char* sql, const char* what);

  // A chunk whose blob is durable, waiting for its row to be committed.
  struct PendingChunk {
    const std::string& trace_id;
    const NewChunk& chunk;
    bool done = false;
    absl::Status status;
  };
  absl::Status GroupCommit(PendingChunk* row);
  absl::Status CommitLocked(const std::vector<PendingChunk*>& batch);  // mu_ held

  std::string dir_;
  sqlite3* db_;
  std::mutex group_mu_;  // pending_ and committing_
  std::condition_variable group_cv_;
  std::vector<PendingChunk*> pending_;
  bool committing_ = false;
  std::mutex mu_;  // guards the database (one writer: SQLite's rule)
  // A second connection for an upload's own lookups (its trace row, a
  // resent chunk's row): in WAL mode it reads the last commit while the
  // writer's group commit is in its fsync, so a chunk does not queue behind
  // other traces' commits before its blob is even written.
  sqlite3* read_db_ = nullptr;
  std::mutex read_mu_;
  // Traces with a live Writer: an entry is added by LockTrace (after
  // waiting for any other) and erased, with writer_cv_ notified, when the
  // Writer is destroyed.
  std::mutex writer_mu_;
  std::condition_variable writer_cv_;
  std::set<std::string> writers_;
  // Replay leases: one process holds this store, so they live in memory.
  std::map<std::string, std::chrono::steady_clock::time_point> leases_;
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_STORE_SQLITE_STORE_H_
