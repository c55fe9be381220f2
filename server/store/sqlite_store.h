// SqliteStore: the embedded Store — SQLite (WAL, synchronous=FULL) for
// metadata, one blob file per trace under DATA_DIR/blobs/ for its bytes.
//
// Write order of a chunk (the crash tests walk every step, failpoint.h):
//   drop any unacknowledged tail of the blob; write the frame; fsync the
//   blob; commit the chunk row and the trace's new length in one SQLite
//   transaction (synchronous=FULL: durable at COMMIT); acknowledge.
// A crash before the commit leaves bytes past the trace's committed length,
// which the next append (or a read) ignores; a crash after it leaves the
// chunk stored though the agent saw no ack, and its resend is idempotent.
#ifndef FAULTLAB_SERVER_STORE_SQLITE_STORE_H_
#define FAULTLAB_SERVER_STORE_SQLITE_STORE_H_

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <map>
#include <condition_variable>
#include <memory>
#include <set>
#include <mutex>
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

  absl::StatusOr<UploadState> BeginTrace(const std::string& head) override;
  absl::Status AppendChunk(const std::string& trace_id, uint64_t index,
                           const std::string& frame) override;
  absl::StatusOr<TraceRecord> GetTrace(const std::string& trace_id) override;
  absl::StatusOr<std::vector<TraceRecord>> ListTraces() override;
  absl::StatusOr<std::unique_ptr<trace::ByteSource>> OpenTrace(const std::string& trace_id) override;
  absl::Status SaveReplay(const std::string& trace_id, const std::string& outcome,
                          const std::string& report) override;
  absl::StatusOr<std::vector<std::string>> PendingReplays() override;
  absl::StatusOr<std::optional<std::string>> ClaimReplay(const std::string& owner,
                                                         uint64_t lease_ms) override;
  absl::StatusOr<std::pair<std::string, std::string>> GetReplay(const std::string& trace_id) override;

  absl::Status SaveRun(RunRecord* run) override;
  absl::StatusOr<std::vector<RunRecord>> ListRuns(const RunFilter& filter) override;
  absl::StatusOr<RunRecord> GetRun(const std::string& trace_id, bool with_latencies) override;
  absl::StatusOr<std::vector<std::string>> PendingRuns() override;
  absl::Status SaveWhatIf(const std::string& trace_id, const WhatIfRecord& w) override;
  absl::StatusOr<WhatIfRecord> GetWhatIf(const std::string& trace_id, const std::string& settings,
                                         const std::string& mode) override;
  uint64_t SizeBytes() override;
  std::string Identity() const override { return "sqlite:" + dir_; }

  // The schema version this build writes (migrations in sqlite_store.cc).
  static int SchemaVersion();
  // How many appends failed to write (disk full included): for /metrics.
  uint64_t write_failures() const override { return write_failures_.load(); }

 private:
  SqliteStore(std::string data_dir, sqlite3* db) : dir_(std::move(data_dir)), db_(db) {}
  absl::Status Exec(const std::string& sql);
  absl::Status Migrate();
  std::string BlobPath(const std::string& trace_id) const;
  absl::StatusOr<TraceRecord> GetLocked(const std::string& trace_id);

  // A chunk whose blob is durable, waiting for its row to be committed.
  struct PendingChunk {
    const std::string& trace_id;
    uint64_t index, offset, size;
    uint32_t crc, events;
    bool final;
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
  std::mutex mu_;  // guards the database (one writer: SQLite's rule) and writing_
  std::set<std::string> writing_;  // traces whose blob is being written now
  std::atomic<uint64_t> write_failures_{0};
  // Replay leases: one process holds this store, so they live in memory.
  std::map<std::string, std::chrono::steady_clock::time_point> leases_;
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_STORE_SQLITE_STORE_H_
