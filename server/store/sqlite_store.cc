#include "server/store/sqlite_store.h"

#include <sys/stat.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/trace/reader.h"
#include "server/store/files.h"

namespace faultlab::server {
namespace {

// Schema migrations, in order; version N is the state after the Nth. Never
// edit one that has shipped: add another.
const char* const kMigrations[] = {
    // 1: traces and their chunks.
    "CREATE TABLE traces ("
    "  trace_id BLOB PRIMARY KEY,"
    "  sequence INTEGER NOT NULL UNIQUE,"
    "  head BLOB NOT NULL,"  // preamble + header frame, as uploaded
    "  board TEXT NOT NULL, profile TEXT NOT NULL, variant TEXT NOT NULL,"
    "  policy TEXT NOT NULL, workload TEXT NOT NULL, capture_source INTEGER NOT NULL,"
    "  chunks INTEGER NOT NULL DEFAULT 0,"
    "  events INTEGER NOT NULL DEFAULT 0,"
    "  bytes INTEGER NOT NULL,"  // committed length of the blob
    "  complete INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE chunks ("
    "  trace_id BLOB NOT NULL, idx INTEGER NOT NULL,"
    "  offset INTEGER NOT NULL, size INTEGER NOT NULL, crc INTEGER NOT NULL,"
    "  events INTEGER NOT NULL,"
    "  PRIMARY KEY (trace_id, idx));",
    // 2: replay results.
    "CREATE TABLE replays ("
    "  trace_id BLOB PRIMARY KEY,"
    "  outcome TEXT NOT NULL,"
    "  report TEXT NOT NULL);",
    // 3: runs (measured and judged traces) and what-if results.
    "CREATE TABLE runs ("
    "  run INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  trace_id BLOB NOT NULL UNIQUE,"
    "  board TEXT NOT NULL, gpu TEXT NOT NULL, workload TEXT NOT NULL,"
    "  variant TEXT NOT NULL, policy TEXT NOT NULL,"
    "  faults INTEGER NOT NULL, alloc_failures INTEGER NOT NULL,"
    "  p50 INTEGER NOT NULL, p90 INTEGER NOT NULL, p99 INTEGER NOT NULL, max INTEGER NOT NULL,"
    "  verdict TEXT NOT NULL, baseline_runs INTEGER NOT NULL,"
    "  p_value REAL NOT NULL, cliffs_delta REAL NOT NULL, median_ratio REAL NOT NULL,"
    "  change_point BLOB NOT NULL,"
    "  latencies BLOB NOT NULL);"  // sorted, delta-coded LEB128 varints
    "CREATE INDEX runs_by_series ON runs (board, gpu, workload, variant, policy, run);"
    "CREATE TABLE whatifs ("
    "  trace_id BLOB NOT NULL, settings TEXT NOT NULL, mode TEXT NOT NULL,"
    "  outcome TEXT NOT NULL, report TEXT NOT NULL,"
    "  PRIMARY KEY (trace_id, settings, mode));",
    // 4: the order traces completed in (PendingRuns: the store contract);
    // traces completed before it keep their arrival order.
    "ALTER TABLE traces ADD COLUMN completed_seq INTEGER;"
    "UPDATE traces SET completed_seq = sequence WHERE complete = 1;",
    // 5: each board's newest calibrated profile.
    "CREATE TABLE board_profiles ("
    "  board TEXT PRIMARY KEY, base TEXT NOT NULL, id TEXT NOT NULL, text TEXT NOT NULL,"
    "  fit TEXT NOT NULL, through INTEGER NOT NULL, version INTEGER NOT NULL);",
};

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& Blob(int i, const std::string& v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Int(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  int64_t ColInt(int i) { return sqlite3_column_int64(s_, i); }
  double ColDouble(int i) { return sqlite3_column_double(s_, i); }
  Stmt& Double(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  std::string ColBlob(int i) {
    const void* p = sqlite3_column_blob(s_, i);
    return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(s_, i)) : "";
  }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

absl::Status DbError(sqlite3* db, const std::string& what) {
  return absl::UnavailableError(absl::StrCat("store: ", what, ": ", sqlite3_errmsg(db)));
}

TraceRecord RecordFrom(Stmt& s) {
  // Columns: trace_id, sequence, head, chunks, events, bytes, complete.
  TraceRecord r;
  r.trace_id = s.ColBlob(0);
  r.sequence = s.ColInt(1);
  const std::string head = s.ColBlob(2);
  trace::MemorySource src(head);
  trace::TraceReader reader(&src, "head");
  if (reader.Open().ok()) r.header = reader.header();
  r.chunks = s.ColInt(3);
  r.events = s.ColInt(4);
  r.bytes = s.ColInt(5);
  r.complete = s.ColInt(6) != 0;
  return r;
}

constexpr char kSelect[] =
    "SELECT trace_id, sequence, head, chunks, events, bytes, complete FROM traces";

}  // namespace

int SqliteStore::SchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& data_dir) {
  if (absl::Status s = MakeDir(data_dir); !s.ok()) return s;
  if (absl::Status s = MakeDir(data_dir + "/blobs"); !s.ok()) return s;
  sqlite3* db = nullptr;
  const std::string path = data_dir + "/faultlab.db";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    absl::Status s = DbError(db, absl::StrCat("cannot open ", path));
    sqlite3_close(db);
    return s;
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(data_dir, db));
  sqlite3_busy_timeout(db, 5000);
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (absl::Status s = store->Exec(pragma); !s.ok()) return s;
  }
  if (absl::Status s = store->Migrate(); !s.ok()) return s;
  if (sqlite3_open_v2(path.c_str(), &store->read_db_, SQLITE_OPEN_READWRITE, nullptr) !=
      SQLITE_OK) {
    return DbError(store->read_db_, absl::StrCat("cannot open ", path, " for reading"));
  }
  sqlite3_busy_timeout(store->read_db_, 5000);
  return store;
}

SqliteStore::~SqliteStore() {
  sqlite3_close(read_db_);  // a no-op when it never opened
  sqlite3_close(db_);
}

absl::Status SqliteStore::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    absl::Status s = absl::UnavailableError(
        absl::StrCat("store: ", err ? err : "?", " (", sql.substr(0, 60), ")"));
    sqlite3_free(err);
    return s;
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::Migrate() {
  if (absl::Status s = Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
      !s.ok()) {
    return s;
  }
  int64_t have = 0;
  {
    Stmt q(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (!q.ok() || q.Step() != SQLITE_ROW) return DbError(db_, "reading the schema version");
    have = q.ColInt(0);
  }
  if (have > SchemaVersion()) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir_, "/faultlab.db: schema version ", have, " is newer than this server's ",
                     SchemaVersion(), "; use a newer faultlab-server"));
  }
  for (int64_t v = have; v < SchemaVersion(); ++v) {
    absl::Status s =
        Exec(absl::StrCat("BEGIN IMMEDIATE; ", kMigrations[v],
                          " INSERT INTO schema_version VALUES (", v + 1, "); COMMIT;"));
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s;
    }
  }
  return absl::OkStatus();
}

// The trace's one writer in this process: its claim in writers_.
class SqliteStore::Writer : public Store::TraceWriter {
 public:
  Writer(SqliteStore* store, std::string trace_id) : store_(store), id_(std::move(trace_id)) {}
  ~Writer() override {
    {
      std::lock_guard<std::mutex> lock(store_->writer_mu_);
      store_->writers_.erase(id_);
    }
    store_->writer_cv_.notify_all();
  }

  // This trace's rows change only through this writer, whose commits are
  // done before it reads again: the read connection sees them.
  absl::StatusOr<std::optional<TraceRow>> Find() override {
    std::lock_guard<std::mutex> lock(store_->read_mu_);
    Stmt q(store_->read_db_, "SELECT head, chunks, bytes, complete FROM traces WHERE trace_id = ?");
    q.Blob(1, id_);
    const int rc = q.Step();
    if (rc == SQLITE_DONE) return std::optional<TraceRow>();
    if (rc != SQLITE_ROW) return DbError(store_->read_db_, "looking up a trace");
    return std::optional<TraceRow>(TraceRow{q.ColBlob(0), static_cast<uint64_t>(q.ColInt(1)),
                                            static_cast<uint64_t>(q.ColInt(2)), q.ColInt(3) != 0});
  }

  absl::StatusOr<ChunkRow> Chunk(uint64_t index) override {
    std::lock_guard<std::mutex> lock(store_->read_mu_);
    Stmt q(store_->read_db_, "SELECT size, crc FROM chunks WHERE trace_id = ? AND idx = ?");
    q.Blob(1, id_).Int(2, static_cast<int64_t>(index));
    if (q.Step() != SQLITE_ROW) return DbError(store_->read_db_, "looking up a chunk");
    return ChunkRow{static_cast<uint64_t>(q.ColInt(0)), static_cast<uint32_t>(q.ColInt(1))};
  }

  absl::Status Insert(const trace::TraceHeader& h, const std::string& head) override {
    std::lock_guard<std::mutex> lock(store_->mu_);
    Stmt ins(store_->db_,
             "INSERT INTO traces (trace_id, sequence, head, board, profile, variant, policy, "
             "workload, capture_source, bytes) VALUES (?, (SELECT COALESCE(MAX(sequence), 0) + 1 "
             "FROM traces), ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.Blob(1, id_).Blob(2, head).Text(3, h.board()).Text(4, h.profile()).Text(5, h.variant());
    ins.Text(6, h.policy()).Text(7, h.workload()).Int(8, h.capture_source());
    ins.Int(9, static_cast<int64_t>(head.size()));
    if (ins.Step() != SQLITE_DONE) return DbError(store_->db_, "recording a new trace");
    return absl::OkStatus();
  }

  absl::Status Commit(const NewChunk& chunk) override {
    PendingChunk row{id_, chunk, false, absl::OkStatus()};
    return store_->GroupCommit(&row);
  }

 private:
  SqliteStore* store_;
  const std::string id_;
};

absl::StatusOr<std::unique_ptr<Store::TraceWriter>> SqliteStore::LockTrace(
    const std::string& trace_id) {
  std::unique_lock<std::mutex> lock(writer_mu_);
  writer_cv_.wait(lock, [&] { return writers_.count(trace_id) == 0; });
  writers_.insert(trace_id);
  return std::unique_ptr<TraceWriter>(std::make_unique<Writer>(this, trace_id));
}

absl::Status SqliteStore::GroupCommit(PendingChunk* row) {
  // Group commit: the first waiter to find no commit running becomes the
  // leader and commits every chunk queued so far in one transaction (one WAL
  // fsync), while the next ones queue up for the following transaction.
  std::unique_lock<std::mutex> g(group_mu_);
  pending_.push_back(row);
  while (!row->done) {
    if (committing_) {
      group_cv_.wait(g);
      continue;
    }
    committing_ = true;
    std::vector<PendingChunk*> batch;
    batch.swap(pending_);
    g.unlock();
    absl::Status s;
    {
      std::lock_guard<std::mutex> db(mu_);
      s = CommitLocked(batch);
    }
    g.lock();
    for (PendingChunk* p : batch) {
      p->status = s;
      p->done = true;
    }
    committing_ = false;
    group_cv_.notify_all();
  }
  return row->status;
}

absl::Status SqliteStore::CommitLocked(const std::vector<PendingChunk*>& batch) {
  if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  for (const PendingChunk* p : batch) {
    const NewChunk& c = p->chunk;
    Stmt ins(db_, "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)");
    ins.Blob(1, p->trace_id).Int(2, static_cast<int64_t>(c.index));
    ins.Int(3, static_cast<int64_t>(c.offset)).Int(4, static_cast<int64_t>(c.size));
    ins.Int(5, c.crc).Int(6, c.events);
    // completed_seq: the order traces completed in (PendingRuns).
    Stmt up(
        db_,
        "UPDATE traces SET chunks = chunks + 1, events = events + ?1, bytes = ?2, complete = ?3, "
        "completed_seq = CASE WHEN ?3 THEN (SELECT COALESCE(MAX(completed_seq), 0) + 1 FROM "
        "traces) "
        "END WHERE trace_id = ?4");
    up.Int(1, c.events).Int(2, static_cast<int64_t>(c.offset + c.size));
    up.Int(3, c.final ? 1 : 0).Blob(4, p->trace_id);
    if (ins.Step() != SQLITE_DONE || up.Step() != SQLITE_DONE) {
      absl::Status s = DbError(db_, "recording a chunk");
      (void)Exec("ROLLBACK");
      return s;
    }
  }
  if (absl::Status s = Exec("COMMIT"); !s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<TraceRecord> SqliteStore::GetLocked(const std::string& trace_id) {
  Stmt q(db_, absl::StrCat(kSelect, " WHERE trace_id = ?").c_str());
  q.Blob(1, trace_id);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) {
    return absl::NotFoundError(absl::StrCat("no trace ", absl::BytesToHexString(trace_id)));
  }
  if (rc != SQLITE_ROW) return DbError(db_, "looking up a trace");
  return RecordFrom(q);
}

absl::StatusOr<TraceRecord> SqliteStore::GetTrace(const std::string& trace_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return GetLocked(trace_id);
}

absl::StatusOr<std::vector<TraceRecord>> SqliteStore::ListTraces() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q(db_, absl::StrCat(kSelect, " ORDER BY sequence").c_str());
  std::vector<TraceRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(RecordFrom(q));
  if (rc != SQLITE_DONE) return DbError(db_, "listing traces");
  return out;
}

absl::Status SqliteStore::SaveReplay(const std::string& trace_id, const std::string& outcome,
                                     const std::string& report) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q(db_, "INSERT OR IGNORE INTO replays VALUES (?, ?, ?)");
  q.Blob(1, trace_id).Text(2, outcome).Text(3, report);
  if (q.Step() != SQLITE_DONE) return DbError(db_, "saving a replay");
  leases_.erase(trace_id);
  if (sqlite3_changes(db_) == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("trace ", absl::BytesToHexString(trace_id), " has a replay"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> SqliteStore::Ids(const char* sql, const char* what) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q(db_, sql);
  std::vector<std::string> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(q.ColBlob(0));
  if (rc != SQLITE_DONE) return DbError(db_, what);
  return out;
}

absl::StatusOr<std::vector<std::string>> SqliteStore::PendingReplays() {
  return Ids(
      "SELECT trace_id FROM traces WHERE complete = 1 AND trace_id NOT IN "
      "(SELECT trace_id FROM replays) ORDER BY sequence",
      "listing pending replays");
}

absl::StatusOr<std::optional<std::string>> SqliteStore::ClaimReplay(const std::string&,
                                                                    uint64_t lease_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  // Every leased id may come first: one more than the leases is enough.
  Stmt q(db_,
         "SELECT trace_id FROM traces WHERE complete = 1 AND trace_id NOT IN "
         "(SELECT trace_id FROM replays) ORDER BY sequence LIMIT ?");
  q.Int(1, static_cast<int64_t>(leases_.size() + 1));
  std::vector<std::string> pending;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) pending.push_back(q.ColBlob(0));
  if (rc != SQLITE_DONE) return DbError(db_, "claiming a replay");
  const auto now = std::chrono::steady_clock::now();
  for (const std::string& id : pending) {
    auto it = leases_.find(id);
    if (it != leases_.end() && it->second > now) continue;
    leases_[id] = now + std::chrono::milliseconds(lease_ms);
    return std::optional<std::string>(id);
  }
  return std::optional<std::string>();
}

absl::StatusOr<std::pair<std::string, std::string>> SqliteStore::GetReplay(
    const std::string& trace_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q(db_, "SELECT outcome, report FROM replays WHERE trace_id = ?");
  q.Blob(1, trace_id);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) {
    return absl::NotFoundError(absl::StrCat("no replay of ", absl::BytesToHexString(trace_id)));
  }
  if (rc != SQLITE_ROW) return DbError(db_, "looking up a replay");
  return std::make_pair(q.ColBlob(0), q.ColBlob(1));
}

namespace {

constexpr char kRunColumns[] =
    "SELECT run, trace_id, board, gpu, workload, variant, policy, faults, alloc_failures, p50, "
    "p90, "
    "p99, max, verdict, baseline_runs, p_value, cliffs_delta, median_ratio, change_point, ";

RunRecord RunFrom(Stmt& q, bool with_latencies) {
  RunRecord r;
  r.run = q.ColInt(0);
  r.trace_id = q.ColBlob(1);
  r.board = q.ColBlob(2);
  r.gpu = q.ColBlob(3);
  r.workload = q.ColBlob(4);
  r.variant = q.ColBlob(5);
  r.policy = q.ColBlob(6);
  r.faults = q.ColInt(7);
  r.alloc_failures = q.ColInt(8);
  r.p50_ns = q.ColInt(9);
  r.p90_ns = q.ColInt(10);
  r.p99_ns = q.ColInt(11);
  r.max_ns = q.ColInt(12);
  r.verdict = q.ColBlob(13);
  r.baseline_runs = q.ColInt(14);
  r.p_value = q.ColDouble(15);
  r.cliffs_delta = q.ColDouble(16);
  r.median_ratio = q.ColDouble(17);
  r.change_point = q.ColBlob(18);
  if (with_latencies) r.latencies = DecodeLatencies(q.ColBlob(19));
  return r;
}

}  // namespace

absl::Status SqliteStore::SaveRun(RunRecord* r) {
  std::lock_guard<std::mutex> lock(mu_);
  // A second run of a trace keeps its run number (store.h).
  Stmt q(db_,
         "INSERT INTO runs (trace_id, board, gpu, workload, variant, policy, faults, "
         "alloc_failures, p50, p90, p99, max, verdict, baseline_runs, p_value, cliffs_delta, "
         "median_ratio, change_point, latencies) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
         "ON CONFLICT (trace_id) DO UPDATE SET faults = excluded.faults, "
         "alloc_failures = excluded.alloc_failures, p50 = excluded.p50, p90 = excluded.p90, "
         "p99 = excluded.p99, max = excluded.max, verdict = excluded.verdict, "
         "baseline_runs = excluded.baseline_runs, p_value = excluded.p_value, "
         "cliffs_delta = excluded.cliffs_delta, median_ratio = excluded.median_ratio, "
         "change_point = excluded.change_point, latencies = excluded.latencies");
  q.Blob(1, r->trace_id)
      .Text(2, r->board)
      .Text(3, r->gpu)
      .Text(4, r->workload)
      .Text(5, r->variant)
      .Text(6, r->policy)
      .Int(7, r->faults)
      .Int(8, r->alloc_failures)
      .Int(9, r->p50_ns)
      .Int(10, r->p90_ns)
      .Int(11, r->p99_ns)
      .Int(12, r->max_ns)
      .Text(13, r->verdict)
      .Int(14, r->baseline_runs)
      .Double(15, r->p_value)
      .Double(16, r->cliffs_delta)
      .Double(17, r->median_ratio)
      .Blob(18, r->change_point)
      .Blob(19, EncodeLatencies(r->latencies));
  if (q.Step() != SQLITE_DONE) return DbError(db_, "saving a run");
  Stmt n(db_, "SELECT run FROM runs WHERE trace_id = ?");
  n.Blob(1, r->trace_id);
  if (n.Step() != SQLITE_ROW) return DbError(db_, "saving a run");
  r->run = static_cast<uint64_t>(n.ColInt(0));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RunRecord>> SqliteStore::ListRuns(const RunFilter& f) {
  std::lock_guard<std::mutex> lock(mu_);
  // The newest `limit` matching runs, returned oldest first.
  const std::string sql = absl::StrCat(
      "SELECT * FROM (", kRunColumns, f.with_latencies ? "latencies" : "NULL",
      " FROM runs WHERE (?1 = '' OR board = ?1) AND (?2 = '' OR gpu = ?2) AND "
      "(?3 = '' OR workload = ?3) AND (?4 = '' OR variant = ?4) AND (?5 = '' OR policy = ?5) "
      "ORDER BY run DESC LIMIT ?6) ORDER BY run");
  Stmt q(db_, sql.c_str());
  q.Text(1, f.board)
      .Text(2, f.gpu)
      .Text(3, f.workload)
      .Text(4, f.variant)
      .Text(5, f.policy)
      .Int(6, f.limit ? static_cast<int64_t>(f.limit) : -1);
  std::vector<RunRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(RunFrom(q, f.with_latencies));
  if (rc != SQLITE_DONE) return DbError(db_, "listing runs");
  return out;
}

absl::StatusOr<RunRecord> SqliteStore::GetRun(const std::string& trace_id, bool with_latencies) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string sql = absl::StrCat(kRunColumns, with_latencies ? "latencies" : "NULL",
                                       " FROM runs WHERE trace_id = ?");
  Stmt q(db_, sql.c_str());
  q.Blob(1, trace_id);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) {
    return absl::NotFoundError(absl::StrCat("no run of ", absl::BytesToHexString(trace_id)));
  }
  if (rc != SQLITE_ROW) return DbError(db_, "looking up a run");
  return RunFrom(q, with_latencies);
}

absl::StatusOr<std::vector<std::string>> SqliteStore::PendingRuns() {
  return Ids(
      "SELECT trace_id FROM traces WHERE complete = 1 AND trace_id NOT IN "
      "(SELECT trace_id FROM runs) ORDER BY completed_seq",
      "listing pending runs");
}

absl::Status SqliteStore::SaveWhatIf(const std::string& trace_id, const WhatIfRecord& w) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q(db_, "INSERT OR IGNORE INTO whatifs VALUES (?, ?, ?, ?, ?)");  // the first wins
  q.Blob(1, trace_id).Text(2, w.settings).Text(3, w.mode).Text(4, w.outcome).Text(5, w.report);
  if (q.Step() != SQLITE_DONE) return DbError(db_, "saving a what-if result");
  return absl::OkStatus();
}

absl::StatusOr<WhatIfRecord> SqliteStore::GetWhatIf(const std::string& trace_id,
                                                    const std::string& settings,
                                                    const std::string& mode) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q(db_,
         "SELECT outcome, report FROM whatifs WHERE trace_id = ? AND settings = ? AND mode = ?");
  q.Blob(1, trace_id).Text(2, settings).Text(3, mode);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return absl::NotFoundError("no such what-if result");
  if (rc != SQLITE_ROW) return DbError(db_, "looking up a what-if result");
  return WhatIfRecord{settings, mode, q.ColBlob(0), q.ColBlob(1)};
}

absl::Status SqliteStore::SaveBoardProfile(BoardProfileRecord* p) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q(db_,
         "INSERT INTO board_profiles VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT (board) DO UPDATE "
         "SET base = excluded.base, id = excluded.id, text = excluded.text, fit = excluded.fit, "
         "through = excluded.through, version = board_profiles.version + 1 "
         "WHERE excluded.through > board_profiles.through");
  q.Text(1, p->board).Text(2, p->base).Text(3, p->id).Text(4, p->text).Text(5, p->fit);
  q.Int(6, static_cast<int64_t>(p->through));
  if (q.Step() != SQLITE_DONE) return DbError(db_, "saving a board's profile");
  if (sqlite3_changes(db_) == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("board ", p->board, " has a calibration from newer traces"));
  }
  Stmt v(db_, "SELECT version FROM board_profiles WHERE board = ?");
  v.Text(1, p->board);
  if (v.Step() != SQLITE_ROW) return DbError(db_, "reading a board profile's version");
  p->version = static_cast<uint64_t>(v.ColInt(0));
  return absl::OkStatus();
}

absl::StatusOr<BoardProfileRecord> SqliteStore::GetBoardProfile(const std::string& board) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q(db_, "SELECT base, id, text, fit, through, version FROM board_profiles WHERE board = ?");
  q.Text(1, board);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) {
    return absl::NotFoundError(absl::StrCat("board ", board, " has no calibrated profile"));
  }
  if (rc != SQLITE_ROW) return DbError(db_, "looking up a board's profile");
  return BoardProfileRecord{board,
                            q.ColBlob(0),
                            q.ColBlob(1),
                            q.ColBlob(2),
                            q.ColBlob(3),
                            static_cast<uint64_t>(q.ColInt(4)),
                            static_cast<uint64_t>(q.ColInt(5))};
}

uint64_t SqliteStore::SizeBytes() {
  uint64_t total = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt q(db_, "SELECT COALESCE(SUM(bytes), 0) FROM traces");
    if (q.Step() == SQLITE_ROW) total = static_cast<uint64_t>(q.ColInt(0));
  }
  for (const char* f : {"faultlab.db", "faultlab.db-wal"}) {
    struct stat st;
    if (stat(absl::StrCat(dir_, "/", f).c_str(), &st) == 0)
      total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

}  // namespace faultlab::server
