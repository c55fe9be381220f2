#include "server/store/pg_store.h"

#include <postgresql/libpq-fe.h>

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/trace/reader.h"
#include "server/store/files.h"

namespace faultlab::server {
namespace {

// Migrations, in order; never edit a shipped one (docs/deploy.md).
const char* const kMigrations[] = {
    // 1: traces, chunks, replays, runs, what-ifs.
    "CREATE SEQUENCE completion_seq;"
    "CREATE TABLE traces ("
    "  trace_id BYTEA PRIMARY KEY,"
    "  sequence BIGSERIAL UNIQUE,"
    "  head BYTEA NOT NULL,"
    "  board TEXT NOT NULL, profile TEXT NOT NULL, variant TEXT NOT NULL,"
    "  policy TEXT NOT NULL, workload TEXT NOT NULL, capture_source INTEGER NOT NULL,"
    "  chunks BIGINT NOT NULL DEFAULT 0, events BIGINT NOT NULL DEFAULT 0,"
    "  bytes BIGINT NOT NULL, complete BOOLEAN NOT NULL DEFAULT false,"
    "  completed_seq BIGINT);"
    "CREATE TABLE chunks ("
    "  trace_id BYTEA NOT NULL REFERENCES traces, idx BIGINT NOT NULL,"
    "  \"offset\" BIGINT NOT NULL, size BIGINT NOT NULL, crc BIGINT NOT NULL, events BIGINT NOT "
    "NULL,"
    "  PRIMARY KEY (trace_id, idx));"
    "CREATE TABLE replays ("
    "  trace_id BYTEA PRIMARY KEY REFERENCES traces, outcome TEXT NOT NULL, report TEXT NOT NULL);"
    "CREATE TABLE runs ("
    "  run BIGSERIAL PRIMARY KEY, trace_id BYTEA NOT NULL UNIQUE REFERENCES traces,"
    "  board TEXT NOT NULL, gpu TEXT NOT NULL, workload TEXT NOT NULL, variant TEXT NOT NULL,"
    "  policy TEXT NOT NULL, faults BIGINT NOT NULL, alloc_failures BIGINT NOT NULL,"
    "  p50 BIGINT NOT NULL, p90 BIGINT NOT NULL, p99 BIGINT NOT NULL, max BIGINT NOT NULL,"
    "  verdict TEXT NOT NULL, baseline_runs BIGINT NOT NULL, p_value DOUBLE PRECISION NOT NULL,"
    "  cliffs_delta DOUBLE PRECISION NOT NULL, median_ratio DOUBLE PRECISION NOT NULL,"
    "  change_point BYTEA NOT NULL, latencies BYTEA NOT NULL);"
    "CREATE INDEX runs_by_series ON runs (board, gpu, workload, variant, policy, run);"
    "CREATE TABLE whatifs ("
    "  trace_id BYTEA NOT NULL REFERENCES traces, settings TEXT NOT NULL, mode TEXT NOT NULL,"
    "  outcome TEXT NOT NULL, report TEXT NOT NULL, PRIMARY KEY (trace_id, settings, mode));",
    // 2: the shared replay queue's leases.
    "CREATE TABLE replay_leases ("
    "  trace_id BYTEA PRIMARY KEY REFERENCES traces, owner TEXT NOT NULL, until TIMESTAMPTZ NOT "
    "NULL);",
    // 3: each board's newest calibrated profile.
    "CREATE TABLE board_profiles ("
    "  board TEXT PRIMARY KEY, base TEXT NOT NULL, id TEXT NOT NULL, text TEXT NOT NULL,"
    "  fit TEXT NOT NULL, through BIGINT NOT NULL, version BIGINT NOT NULL);",
};
constexpr int64_t kMigrationLock = 0x66616c74;  // "falt"
constexpr int64_t kAnalysisLock = 0x616e6c7a;   // "anlz"

// A parameter: text, or bytes sent as binary (bytea).
struct P {
  std::string v;
  bool bin = false;
};
P B(const std::string& bytes) { return {bytes, true}; }
P T(const std::string& s) { return {s, false}; }
P N(int64_t n) { return {absl::StrCat(n), false}; }
P D(double d) { return {absl::StrCat(d), false}; }

class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  bool ok() const {
    const ExecStatusType s = PQresultStatus(r_);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }
  int rows() const { return PQntuples(r_); }
  std::string S(int row, int col) const { return PQgetvalue(r_, row, col); }
  int64_t I(int row, int col) const {
    int64_t v = 0;
    (void)absl::SimpleAtoi(PQgetvalue(r_, row, col), &v);
    return v;
  }
  double F(int row, int col) const { return std::strtod(PQgetvalue(r_, row, col), nullptr); }
  bool Null(int row, int col) const { return PQgetisnull(r_, row, col); }
  std::string Bytes(int row, int col) const {
    size_t n = 0;
    unsigned char* b =
        PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col)), &n);
    std::string out(reinterpret_cast<char*>(b), n);
    PQfreemem(b);
    return out;
  }
  int64_t Affected() const {
    int64_t n = 0;
    (void)absl::SimpleAtoi(PQcmdTuples(r_), &n);
    return n;
  }
  const char* error() const { return PQresultErrorMessage(r_); }

 private:
  PGresult* r_;
};

Result Exec(PGconn* c, const char* sql, const std::vector<P>& params = {}) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const P& p : params) {
    values.push_back(p.v.data());
    lengths.push_back(static_cast<int>(p.v.size()));
    formats.push_back(p.bin ? 1 : 0);
  }
  return Result(PQexecParams(c, sql, static_cast<int>(params.size()), nullptr, values.data(),
                             lengths.data(), formats.data(), 0));
}

absl::Status Fail(PGconn* c, const Result& r, const std::string& what) {
  std::string msg = r.error();
  if (msg.empty()) msg = PQerrorMessage(c);
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  return absl::UnavailableError(absl::StrCat("store (postgres): ", what, ": ", msg));
}

// The advisory-lock key of a trace: its first 8 bytes.
int64_t LockKey(const std::string& trace_id) {
  int64_t k = 0;
  std::memcpy(&k, trace_id.data(), std::min<size_t>(8, trace_id.size()));
  return k;
}

// A transaction holding its trace's advisory lock — one writer per trace
// across every replica until COMMIT — rolled back unless committed.
class TraceTxn {
 public:
  TraceTxn(PGconn* c, const std::string& trace_id) : c_(c) {
    Result b = Exec(c, "BEGIN");
    if (!b.ok()) {
      status_ = Fail(c, b, "BEGIN");
      return;
    }
    open_ = true;
    Result l = Exec(c, "SELECT pg_advisory_xact_lock($1)", {N(LockKey(trace_id))});
    if (!l.ok()) status_ = Fail(c, l, "locking a trace");
  }
  ~TraceTxn() {
    if (open_) Exec(c_, "ROLLBACK");
  }
  const absl::Status& status() const { return status_; }
  absl::Status Commit() {
    open_ = false;
    Result r = Exec(c_, "COMMIT");
    return r.ok() ? absl::OkStatus() : Fail(c_, r, "COMMIT");
  }

 private:
  PGconn* c_;
  bool open_ = false;
  absl::Status status_;
};

absl::Status Migrate(PGconn* c, int target) {
  Result lock = Exec(c, "SELECT pg_advisory_lock($1)", {N(kMigrationLock)});
  if (!lock.ok()) return Fail(c, lock, "locking for migrations");
  struct Unlock {
    PGconn* c;
    ~Unlock() { Exec(c, "SELECT pg_advisory_unlock($1)", {N(kMigrationLock)}); }
  } unlock{c};
  Result t = Exec(c, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  if (!t.ok()) return Fail(c, t, "creating schema_version");
  Result v = Exec(c, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  if (!v.ok()) return Fail(c, v, "reading the schema version");
  const int64_t have = v.I(0, 0);
  if (have > static_cast<int64_t>(std::size(kMigrations))) {
    return absl::FailedPreconditionError(
        absl::StrCat("postgres schema version ", have, " is newer than this server's ",
                     std::size(kMigrations), "; use a newer faultlab-server"));
  }
  for (int64_t n = have; n < target; ++n) {
    const std::string sql = absl::StrCat(
        "BEGIN; ", kMigrations[n], " INSERT INTO schema_version VALUES (", n + 1, "); COMMIT;");
    PGresult* r = PQexec(c, sql.c_str());
    Result res(r);
    if (!res.ok()) {
      absl::Status s = Fail(c, res, absl::StrCat("migration ", n + 1));
      PQclear(PQexec(c, "ROLLBACK"));
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PGconn*> Connect(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    PQfinish(c);
    return absl::UnavailableError(absl::StrCat("store (postgres): cannot connect: ", msg));
  }
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);  // "already exists, skipping" and the like
  return c;
}

constexpr char kTraceCols[] = "trace_id, sequence, head, chunks, events, bytes, complete";

TraceRecord TraceFrom(const Result& r, int row) {
  TraceRecord t;
  t.trace_id = r.Bytes(row, 0);
  t.sequence = static_cast<uint64_t>(r.I(row, 1));
  const std::string head = r.Bytes(row, 2);
  trace::MemorySource src(head);
  trace::TraceReader reader(&src, "head");
  if (reader.Open().ok()) t.header = reader.header();
  t.chunks = static_cast<uint64_t>(r.I(row, 3));
  t.events = static_cast<uint64_t>(r.I(row, 4));
  t.bytes = static_cast<uint64_t>(r.I(row, 5));
  t.complete = r.S(row, 6) == "t";
  return t;
}

constexpr char kRunCols[] =
    "run, trace_id, board, gpu, workload, variant, policy, faults, alloc_failures, p50, p90, p99, "
    "max, "
    "verdict, baseline_runs, p_value, cliffs_delta, median_ratio, change_point";

RunRecord RunFrom(const Result& r, int row, bool with_latencies) {
  RunRecord x;
  x.run = static_cast<uint64_t>(r.I(row, 0));
  x.trace_id = r.Bytes(row, 1);
  x.board = r.S(row, 2);
  x.gpu = r.S(row, 3);
  x.workload = r.S(row, 4);
  x.variant = r.S(row, 5);
  x.policy = r.S(row, 6);
  x.faults = static_cast<uint64_t>(r.I(row, 7));
  x.alloc_failures = static_cast<uint64_t>(r.I(row, 8));
  x.p50_ns = static_cast<uint64_t>(r.I(row, 9));
  x.p90_ns = static_cast<uint64_t>(r.I(row, 10));
  x.p99_ns = static_cast<uint64_t>(r.I(row, 11));
  x.max_ns = static_cast<uint64_t>(r.I(row, 12));
  x.verdict = r.S(row, 13);
  x.baseline_runs = static_cast<uint64_t>(r.I(row, 14));
  x.p_value = r.F(row, 15);
  x.cliffs_delta = r.F(row, 16);
  x.median_ratio = r.F(row, 17);
  x.change_point = r.Bytes(row, 18);
  if (with_latencies) x.latencies = DecodeLatencies(r.Bytes(row, 19));
  return x;
}

}  // namespace

// A pooled connection; given back on scope exit.
class PgStore::Conn {
 public:
  Conn(PgStore* s, PGconn* c) : s_(s), c_(c) {}
  Conn(Conn&& o) noexcept : s_(o.s_), c_(o.c_) { o.c_ = nullptr; }
  ~Conn() {
    if (c_) s_->Put(c_);
  }
  PGconn* get() const { return c_; }

 private:
  PgStore* s_;
  PGconn* c_;
};

absl::StatusOr<std::unique_ptr<PgStore>> PgStore::Open(const std::string& conninfo,
                                                       const std::string& blob_dir,
                                                       int connections) {
  if (absl::Status s = MakeDir(blob_dir); !s.ok()) return s;
  std::unique_ptr<PgStore> store(new PgStore(blob_dir));
  store->conninfo_ = conninfo;
  for (int i = 0; i < connections; ++i) {
    absl::StatusOr<PGconn*> c = Connect(conninfo);
    if (!c.ok()) return c.status();
    store->all_.push_back(*c);
    store->free_.push_back(*c);
  }
  if (absl::Status s = Migrate(store->all_[0], SchemaVersion()); !s.ok()) return s;
  PGconn* c = store->all_[0];
  store->identity_ = absl::StrCat("postgres:", PQhost(c), ":", PQport(c), "/", PQdb(c));
  return store;
}

PgStore::~PgStore() {
  for (PGconn* c : all_) PQfinish(c);
  if (leader_) PQfinish(leader_);
}

int PgStore::SchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

absl::Status PgStore::MigrateTo(const std::string& conninfo, int version) {
  absl::StatusOr<PGconn*> c = Connect(conninfo);
  if (!c.ok()) return c.status();
  absl::Status s = Migrate(*c, version);
  PQfinish(*c);
  return s;
}

absl::Status PgStore::Ping(const std::string& conninfo) {
  absl::StatusOr<PGconn*> c = Connect(conninfo);
  if (!c.ok()) return c.status();
  PQfinish(*c);
  return absl::OkStatus();
}

absl::StatusOr<PgStore::Conn> PgStore::Get() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !free_.empty(); });
  PGconn* c = free_.back();
  free_.pop_back();
  lock.unlock();
  if (PQstatus(c) != CONNECTION_OK) PQreset(c);  // the database restarted, or the network blinked
  if (PQstatus(c) != CONNECTION_OK) {
    Put(c);
    return absl::UnavailableError(
        absl::StrCat("store (postgres): connection lost: ", PQerrorMessage(c)));
  }
  return Conn(this, c);
}

void PgStore::Put(PGconn* c) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(c);
  }
  cv_.notify_one();
}

// The trace's one writer across every replica: a transaction holding the
// trace's advisory lock, on a pooled connection, until it is destroyed.
class PgStore::Writer : public Store::TraceWriter {
 public:
  Writer(Conn conn, std::string trace_id)
      : conn_(std::move(conn)), txn_(conn_.get(), trace_id), id_(std::move(trace_id)) {}
  const absl::Status& status() const { return txn_.status(); }

  absl::StatusOr<std::optional<TraceRow>> Find() override {
    Result q =
        Exec(c(), "SELECT head, chunks, bytes, complete FROM traces WHERE trace_id = $1", {B(id_)});
    if (!q.ok()) return Fail(c(), q, "looking up a trace");
    if (q.rows() == 0) return std::optional<TraceRow>();
    return std::optional<TraceRow>(TraceRow{q.Bytes(0, 0), static_cast<uint64_t>(q.I(0, 1)),
                                            static_cast<uint64_t>(q.I(0, 2)), q.S(0, 3) == "t"});
  }

  absl::StatusOr<ChunkRow> Chunk(uint64_t index) override {
    Result q = Exec(c(), "SELECT size, crc FROM chunks WHERE trace_id = $1 AND idx = $2",
                    {B(id_), N(static_cast<int64_t>(index))});
    if (!q.ok() || q.rows() != 1) return Fail(c(), q, "looking up a chunk");
    return ChunkRow{static_cast<uint64_t>(q.I(0, 0)), static_cast<uint32_t>(q.I(0, 1))};
  }

  absl::Status Insert(const trace::TraceHeader& h, const std::string& head) override {
    Result ins =
        Exec(c(),
             "INSERT INTO traces (trace_id, head, board, profile, variant, policy, workload, "
             "capture_source, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
             {B(id_), B(head), T(h.board()), T(h.profile()), T(h.variant()), T(h.policy()),
              T(h.workload()), N(h.capture_source()), N(static_cast<int64_t>(head.size()))});
    if (!ins.ok()) return Fail(c(), ins, "recording a new trace");
    return txn_.Commit();
  }

  absl::Status Commit(const NewChunk& k) override {
    Result ins = Exec(c(), "INSERT INTO chunks VALUES ($1, $2, $3, $4, $5, $6)",
                      {B(id_), N(static_cast<int64_t>(k.index)), N(static_cast<int64_t>(k.offset)),
                       N(static_cast<int64_t>(k.size)), N(k.crc), N(k.events)});
    if (!ins.ok()) return Fail(c(), ins, "recording a chunk");
    // completed_seq: the order traces completed in (PendingRuns).
    Result up = Exec(
        c(),
        "UPDATE traces SET chunks = chunks + 1, events = events + $1, bytes = $2, complete = $3, "
        "completed_seq = CASE WHEN $3 THEN nextval('completion_seq') ELSE NULL END "
        "WHERE trace_id = $4",
        {N(k.events), N(static_cast<int64_t>(k.offset + k.size)), T(k.final ? "true" : "false"),
         B(id_)});
    if (!up.ok()) return Fail(c(), up, "recording a chunk");
    return txn_.Commit();
  }

 private:
  PGconn* c() const { return conn_.get(); }
  Conn conn_;
  TraceTxn txn_;
  const std::string id_;
};

absl::StatusOr<std::unique_ptr<Store::TraceWriter>> PgStore::LockTrace(
    const std::string& trace_id) {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  auto writer = std::make_unique<Writer>(std::move(*conn), trace_id);
  if (!writer->status().ok()) return writer->status();
  return std::unique_ptr<TraceWriter>(std::move(writer));
}

absl::StatusOr<TraceRecord> PgStore::GetTrace(const std::string& trace_id) {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  Result q = Exec(conn->get(),
                  absl::StrCat("SELECT ", kTraceCols, " FROM traces WHERE trace_id = $1").c_str(),
                  {B(trace_id)});
  if (!q.ok()) return Fail(conn->get(), q, "looking up a trace");
  if (q.rows() == 0)
    return absl::NotFoundError(absl::StrCat("no trace ", absl::BytesToHexString(trace_id)));
  return TraceFrom(q, 0);
}

absl::StatusOr<std::vector<TraceRecord>> PgStore::ListTraces() {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  Result q = Exec(conn->get(),
                  absl::StrCat("SELECT ", kTraceCols, " FROM traces ORDER BY sequence").c_str());
  if (!q.ok()) return Fail(conn->get(), q, "listing traces");
  std::vector<TraceRecord> out;
  for (int i = 0; i < q.rows(); ++i) out.push_back(TraceFrom(q, i));
  return out;
}

absl::Status PgStore::SaveReplay(const std::string& trace_id, const std::string& outcome,
                                 const std::string& report) {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  Result q =
      Exec(conn->get(), "INSERT INTO replays VALUES ($1, $2, $3) ON CONFLICT (trace_id) DO NOTHING",
           {B(trace_id), T(outcome), T(report)});
  if (!q.ok()) return Fail(conn->get(), q, "saving a replay");
  Exec(conn->get(), "DELETE FROM replay_leases WHERE trace_id = $1", {B(trace_id)});
  if (q.Affected() == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("trace ", absl::BytesToHexString(trace_id), " has a replay"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> PgStore::Ids(const char* sql, const char* what) {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  Result q = Exec(conn->get(), sql);
  if (!q.ok()) return Fail(conn->get(), q, what);
  std::vector<std::string> out;
  for (int i = 0; i < q.rows(); ++i) out.push_back(q.Bytes(i, 0));
  return out;
}

absl::StatusOr<std::vector<std::string>> PgStore::PendingReplays() {
  return Ids(
      "SELECT trace_id FROM traces t WHERE complete AND NOT EXISTS "
      "(SELECT 1 FROM replays r WHERE r.trace_id = t.trace_id) ORDER BY sequence",
      "listing pending replays");
}

absl::StatusOr<std::optional<std::string>> PgStore::ClaimReplay(const std::string& owner,
                                                                uint64_t lease_ms) {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  // The oldest unreplayed, unleased trace; SKIP LOCKED lets replicas claim
  // side by side; the lease outlives this statement.
  Result q =
      Exec(conn->get(),
           "WITH c AS (SELECT t.trace_id FROM traces t WHERE t.complete "
           "  AND NOT EXISTS (SELECT 1 FROM replays r WHERE r.trace_id = t.trace_id) "
           "  AND NOT EXISTS (SELECT 1 FROM replay_leases l WHERE l.trace_id = t.trace_id AND "
           "l.until > now()) "
           "  ORDER BY t.sequence LIMIT 1 FOR UPDATE OF t SKIP LOCKED) "
           "INSERT INTO replay_leases (trace_id, owner, until) "
           "SELECT trace_id, $1, now() + $2 * interval '1 millisecond' FROM c "
           "ON CONFLICT (trace_id) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until "
           "RETURNING trace_id",
           {T(owner), N(static_cast<int64_t>(lease_ms))});
  if (!q.ok()) return Fail(conn->get(), q, "claiming a replay");
  if (q.rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(q.Bytes(0, 0));
}

absl::StatusOr<bool> PgStore::LeadAnalysis() {
  std::lock_guard<std::mutex> lock(mu_);
  if (leading_ && leader_ && PQstatus(leader_) == CONNECTION_OK) return true;
  leading_ = false;
  if (leader_ == nullptr || PQstatus(leader_) != CONNECTION_OK) {
    if (leader_) PQfinish(leader_);
    leader_ = nullptr;
    absl::StatusOr<PGconn*> c = Connect(conninfo_);
    if (!c.ok()) return c.status();
    leader_ = *c;
  }
  // A session lock: held until this connection closes (the replica dies).
  Result q = Exec(leader_, "SELECT pg_try_advisory_lock($1)", {N(kAnalysisLock)});
  if (!q.ok()) return Fail(leader_, q, "taking the analysis lead");
  leading_ = q.S(0, 0) == "t";
  return leading_;
}

absl::StatusOr<std::pair<std::string, std::string>> PgStore::GetReplay(
    const std::string& trace_id) {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  Result q =
      Exec(conn->get(), "SELECT outcome, report FROM replays WHERE trace_id = $1", {B(trace_id)});
  if (!q.ok()) return Fail(conn->get(), q, "looking up a replay");
  if (q.rows() == 0)
    return absl::NotFoundError(absl::StrCat("no replay of ", absl::BytesToHexString(trace_id)));
  return std::make_pair(q.S(0, 0), q.S(0, 1));
}

absl::Status PgStore::SaveRun(RunRecord* r) {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  Result q = Exec(
      conn->get(),
      "INSERT INTO runs (trace_id, board, gpu, workload, variant, policy, faults, alloc_failures, "
      "p50, "
      "p90, p99, max, verdict, baseline_runs, p_value, cliffs_delta, median_ratio, change_point, "
      "latencies) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, "
      "$19) "
      "ON CONFLICT (trace_id) DO UPDATE SET faults = EXCLUDED.faults, alloc_failures = "
      "EXCLUDED.alloc_failures, p50 = EXCLUDED.p50, p90 = EXCLUDED.p90, p99 = EXCLUDED.p99, "
      "max = EXCLUDED.max, verdict = EXCLUDED.verdict, baseline_runs = EXCLUDED.baseline_runs, "
      "p_value = EXCLUDED.p_value, cliffs_delta = EXCLUDED.cliffs_delta, median_ratio = "
      "EXCLUDED.median_ratio, change_point = EXCLUDED.change_point, latencies = EXCLUDED.latencies "
      "RETURNING run",  // a second run of a trace keeps its run number (store.h)
      {B(r->trace_id), T(r->board), T(r->gpu), T(r->workload), T(r->variant), T(r->policy),
       N(static_cast<int64_t>(r->faults)), N(static_cast<int64_t>(r->alloc_failures)),
       N(static_cast<int64_t>(r->p50_ns)), N(static_cast<int64_t>(r->p90_ns)),
       N(static_cast<int64_t>(r->p99_ns)), N(static_cast<int64_t>(r->max_ns)), T(r->verdict),
       N(static_cast<int64_t>(r->baseline_runs)), D(r->p_value), D(r->cliffs_delta),
       D(r->median_ratio), B(r->change_point), B(EncodeLatencies(r->latencies))});
  if (!q.ok()) return Fail(conn->get(), q, "saving a run");
  r->run = static_cast<uint64_t>(q.I(0, 0));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RunRecord>> PgStore::ListRuns(const RunFilter& f) {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  const std::string sql =
      absl::StrCat("SELECT * FROM (SELECT ", kRunCols, f.with_latencies ? ", latencies" : "",
                   " FROM runs WHERE ($1 = '' OR board = $1) AND ($2 = '' OR gpu = $2) AND ($3 = "
                   "'' OR workload = $3) "
                   "AND ($4 = '' OR variant = $4) AND ($5 = '' OR policy = $5) ORDER BY run DESC "
                   "LIMIT $6) x ORDER BY run");
  Result q = Exec(conn->get(), sql.c_str(),
                  {T(f.board), T(f.gpu), T(f.workload), T(f.variant), T(f.policy),
                   N(f.limit ? static_cast<int64_t>(f.limit) : INT64_MAX)});
  if (!q.ok()) return Fail(conn->get(), q, "listing runs");
  std::vector<RunRecord> out;
  for (int i = 0; i < q.rows(); ++i) out.push_back(RunFrom(q, i, f.with_latencies));
  return out;
}

absl::StatusOr<RunRecord> PgStore::GetRun(const std::string& trace_id, bool with_latencies) {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  const std::string sql = absl::StrCat("SELECT ", kRunCols, with_latencies ? ", latencies" : "",
                                       " FROM runs WHERE trace_id = $1");
  Result q = Exec(conn->get(), sql.c_str(), {B(trace_id)});
  if (!q.ok()) return Fail(conn->get(), q, "looking up a run");
  if (q.rows() == 0)
    return absl::NotFoundError(absl::StrCat("no run of ", absl::BytesToHexString(trace_id)));
  return RunFrom(q, 0, with_latencies);
}

absl::StatusOr<std::vector<std::string>> PgStore::PendingRuns() {
  // In completion order: each series' baseline is the runs completed before.
  return Ids(
      "SELECT trace_id FROM traces t WHERE complete AND NOT EXISTS "
      "(SELECT 1 FROM runs r WHERE r.trace_id = t.trace_id) ORDER BY completed_seq",
      "listing pending runs");
}

absl::Status PgStore::SaveWhatIf(const std::string& trace_id, const WhatIfRecord& w) {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  Result q = Exec(conn->get(),
                  "INSERT INTO whatifs VALUES ($1, $2, $3, $4, $5) ON CONFLICT (trace_id, "
                  "settings, mode) DO NOTHING",
                  {B(trace_id), T(w.settings), T(w.mode), T(w.outcome), T(w.report)});
  if (!q.ok()) return Fail(conn->get(), q, "saving a what-if result");
  return absl::OkStatus();
}

absl::StatusOr<WhatIfRecord> PgStore::GetWhatIf(const std::string& trace_id,
                                                const std::string& settings,
                                                const std::string& mode) {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  Result q = Exec(
      conn->get(),
      "SELECT outcome, report FROM whatifs WHERE trace_id = $1 AND settings = $2 AND mode = $3",
      {B(trace_id), T(settings), T(mode)});
  if (!q.ok()) return Fail(conn->get(), q, "looking up a what-if result");
  if (q.rows() == 0) return absl::NotFoundError("no such what-if result");
  return WhatIfRecord{settings, mode, q.S(0, 0), q.S(0, 1)};
}

absl::Status PgStore::SaveBoardProfile(BoardProfileRecord* p) {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  Result q = Exec(conn->get(),
                  "INSERT INTO board_profiles VALUES ($1, $2, $3, $4, $5, $6, 1) "
                  "ON CONFLICT (board) DO UPDATE SET base = excluded.base, id = excluded.id, "
                  "text = excluded.text, fit = excluded.fit, through = excluded.through, "
                  "version = board_profiles.version + 1 "
                  "WHERE excluded.through > board_profiles.through RETURNING version",
                  {T(p->board), T(p->base), T(p->id), T(p->text), T(p->fit),
                   N(static_cast<int64_t>(p->through))});
  if (!q.ok()) return Fail(conn->get(), q, "saving a board's profile");
  if (q.rows() == 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("board ", p->board, " has a calibration from newer traces"));
  }
  p->version = static_cast<uint64_t>(q.I(0, 0));
  return absl::OkStatus();
}

absl::StatusOr<BoardProfileRecord> PgStore::GetBoardProfile(const std::string& board) {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return conn.status();
  Result q = Exec(conn->get(),
                  "SELECT base, id, text, fit, through, version FROM board_profiles "
                  "WHERE board = $1",
                  {T(board)});
  if (!q.ok()) return Fail(conn->get(), q, "looking up a board's profile");
  if (q.rows() == 0) {
    return absl::NotFoundError(absl::StrCat("board ", board, " has no calibrated profile"));
  }
  return BoardProfileRecord{board,
                            q.S(0, 0),
                            q.S(0, 1),
                            q.S(0, 2),
                            q.S(0, 3),
                            static_cast<uint64_t>(q.I(0, 4)),
                            static_cast<uint64_t>(q.I(0, 5))};
}

uint64_t PgStore::SizeBytes() {
  absl::StatusOr<Conn> conn = Get();
  if (!conn.ok()) return 0;
  Result q = Exec(
      conn->get(),
      "SELECT COALESCE((SELECT SUM(bytes) FROM traces), 0) + pg_database_size(current_database())");
  return q.ok() ? static_cast<uint64_t>(q.I(0, 0)) : 0;
}

}  // namespace faultlab::server
