// The store contract (store.h), held against every dialect: SQLite in
// process, and a real PostgreSQL this test starts itself (TestPostgres).
// Uploads round-trip byte for byte, resume after a reopen, are idempotent by
// (trace id, chunk index), refuse bad chunks with the right code, survive a
// full disk with nothing acknowledged and a crash (a child process
// _exit()ing at each failpoint) with no acknowledged chunk lost; concurrent
// uploads take turns; replays, runs and what-if results keep the promises
// the server's workers rely on. A new dialect is one more row in kDialects.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "engine/replay/recorder.h"
#include "engine/trace/frame.h"
#include "engine/trace/reader.h"
#include "engine/trace/writer.h"
#include "engine/workload/workload.h"
#include "server/store/failpoint.h"
#include "server/store/pg_store.h"
#include "server/store/sqlite_store.h"
#include "server/store/testing/postgres.h"

namespace faultlab::server {
namespace {

struct Split {
  std::string bytes;                // the whole trace file
  std::string head;                 // preamble + header frame
  std::vector<std::string> chunks;  // chunk frames
  std::string id;
};

Split RecordTrace(uint64_t seed) {
  static std::map<uint64_t, Split> cache;  // recording is the slow part
  if (auto it = cache.find(seed); it != cache.end()) return it->second;
  dev::DeviceConfig cfg;
  cfg.profile = *profiles::LoadProfile("g610");
  cfg.seed = seed;
  Split s;
  s.id = std::string(16, static_cast<char>('a' + seed));
  trace::WriterOptions opts;
  opts.max_events_per_chunk = 64;  // many chunks
  absl::StatusOr<replay::Recording> r =
      replay::RecordWorkload(cfg, {"game", seed, 4}, "test", s.id, opts);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return s;
  s.bytes = r->bytes;
  absl::StatusOr<trace::TraceFrames> f = trace::SplitFrames(s.bytes);
  EXPECT_TRUE(f.ok()) << f.status();
  if (f.ok()) {
    s.head = f->head;
    s.chunks = f->chunks;
  }
  return cache[seed] = s;
}

std::string ReadAll(trace::ByteSource& src) {
  std::string out;
  char buf[4096];
  for (;;) {
    absl::StatusOr<size_t> n = src.Read(buf, sizeof(buf));
    EXPECT_TRUE(n.ok());
    if (!n.ok() || *n == 0) return out;
    out.append(buf, *n);
  }
}

std::string Stored(Store& store, const std::string& id) {
  auto src = store.OpenTrace(id);
  EXPECT_TRUE(src.ok()) << src.status();
  return src.ok() ? ReadAll(**src) : "";
}

// A chunk frame whose checksums are right but whose columns are not: its
// block, one byte short, stored uncompressed under a fresh envelope CRC.
std::string DamageColumns(const std::string& frame) {
  trace::ChunkEnvelope env;
  EXPECT_TRUE(env.ParseFromString(frame.substr(trace::kFrameHeaderSize)));
  std::string raw;
  absl::StatusOr<absl::string_view> block = trace::UnpackChunk(env, &raw);
  EXPECT_TRUE(block.ok()) << block.status();
  std::string cols(block->substr(0, block->size() - 1));
  env.set_codec(trace::CODEC_NONE);
  env.set_raw_size(cols.size());
  env.set_payload(cols);
  std::string out;
  trace::AppendFrame(out, trace::kFrameChunk, env.SerializeAsString());
  return out;
}

void Upload(Store& store, const Split& t, size_t chunks) {
  ASSERT_TRUE(store.BeginTrace(t.head).ok());
  for (size_t i = 0; i < chunks; ++i)
    ASSERT_TRUE(store.AppendChunk(t.id, i, t.chunks[i]).ok()) << i;
}

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string t = std::string(base ? base : "/tmp") + "/" + name + "XXXXXX";
  EXPECT_NE(mkdtemp(t.data()), nullptr);
  return t;
}

// One store's backing — a SQLite data directory, or a PostgreSQL database
// and a blob directory — opened as often as a test likes (a reopen is a
// server restart).
class Backing {
 public:
  virtual ~Backing() = default;
  virtual absl::StatusOr<std::unique_ptr<Store>> Open() = 0;
  // Runs `sql` on the metadata database; the first column of the first row.
  virtual absl::StatusOr<std::string> Query(const std::string& sql) = 0;
  // Where the blobs are.
  virtual std::string BlobDir() const = 0;
};

class SqliteBacking : public Backing {
 public:
  SqliteBacking() : dir_(TempDir("sqlite") + "/data") {}
  std::string BlobDir() const override { return dir_ + "/blobs"; }
  absl::StatusOr<std::unique_ptr<Store>> Open() override {
    absl::StatusOr<std::unique_ptr<SqliteStore>> s = SqliteStore::Open(dir_);
    if (!s.ok()) return s.status();
    return std::unique_ptr<Store>(std::move(*s));
  }
  absl::StatusOr<std::string> Query(const std::string& sql) override {
    sqlite3* db = nullptr;
    if (sqlite3_open((dir_ + "/faultlab.db").c_str(), &db) != SQLITE_OK) {
      sqlite3_close(db);
      return absl::UnavailableError("cannot open faultlab.db");
    }
    std::string out;
    char* err = nullptr;
    const int rc = sqlite3_exec(
        db, sql.c_str(),
        [](void* o, int, char** v, char**) {
          if (static_cast<std::string*>(o)->empty() && v[0]) *static_cast<std::string*>(o) = v[0];
          return 0;
        },
        &out, &err);
    absl::Status s =
        rc == SQLITE_OK ? absl::OkStatus() : absl::InvalidArgumentError(err ? err : "?");
    sqlite3_free(err);
    sqlite3_close(db);
    if (!s.ok()) return s;
    return out;
  }

 private:
  std::string dir_;
};

// One PostgreSQL for the whole test binary (starting one takes seconds), a
// fresh database per backing.
absl::StatusOr<TestPostgres*> SharedPostgres() {
  static absl::StatusOr<std::unique_ptr<TestPostgres>>* pg =
      new absl::StatusOr<std::unique_ptr<TestPostgres>>(TestPostgres::Start());
  static struct StopAtExit {
    ~StopAtExit() { pg->value().reset(); }
  } stop;
  if (!pg->ok()) return pg->status();
  return pg->value().get();
}

class PgBacking : public Backing {
 public:
  explicit PgBacking(TestPostgres* pg) : pg_(pg), blobs_(TempDir("pgblobs")) {
    static std::atomic<int> n{0};
    db_ = absl::StrCat("contract_", getpid(), "_", n.fetch_add(1));
    created_ = pg_->CreateDatabase(db_);
  }
  absl::StatusOr<std::unique_ptr<Store>> Open() override {
    if (!created_.ok()) return created_;
    absl::StatusOr<std::unique_ptr<PgStore>> s = PgStore::Open(pg_->Conninfo(db_), blobs_, 4);
    if (!s.ok()) return s.status();
    return std::unique_ptr<Store>(std::move(*s));
  }
  absl::StatusOr<std::string> Query(const std::string& sql) override {
    return pg_->Query(db_, sql);
  }
  std::string BlobDir() const override { return blobs_; }

 private:
  TestPostgres* pg_;
  std::string blobs_, db_;
  absl::Status created_;
};

struct Dialect {
  const char* name;
  absl::StatusOr<std::unique_ptr<Backing>> (*fresh)();
};

const Dialect kDialects[] = {
    {"sqlite",
     []() -> absl::StatusOr<std::unique_ptr<Backing>> {
       return std::make_unique<SqliteBacking>();
     }},
    {"postgres",
     []() -> absl::StatusOr<std::unique_ptr<Backing>> {
       absl::StatusOr<TestPostgres*> pg = SharedPostgres();
       if (!pg.ok()) return pg.status();
       return std::unique_ptr<Backing>(std::make_unique<PgBacking>(*pg));
     }},
};

class StoreContract : public ::testing::TestWithParam<Dialect> {
 protected:
  void SetUp() override {
    unsetenv("FAULTLAB_FAILPOINT");
    absl::StatusOr<std::unique_ptr<Backing>> b = GetParam().fresh();
    ASSERT_TRUE(b.ok()) << b.status();
    backing_ = std::move(*b);
  }
  void TearDown() override { unsetenv("FAULTLAB_FAILPOINT"); }
  std::unique_ptr<Store> OpenStore() {
    auto s = backing_->Open();
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::unique_ptr<Backing> backing_;
};

TEST_P(StoreContract, AnUploadRoundTripsByteForByte) {
  const Split t = RecordTrace(1);
  ASSERT_GT(t.chunks.size(), 4u);
  auto store = OpenStore();
  absl::StatusOr<UploadState> st = store->BeginTrace(t.head);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->next_chunk, 0u);
  for (size_t i = 0; i < t.chunks.size(); ++i) {
    ASSERT_TRUE(store->AppendChunk(t.id, i, t.chunks[i]).ok()) << i;
    if (i == 1) {  // a reader sees the acknowledged part only
      EXPECT_EQ(Stored(*store, t.id), t.head + t.chunks[0] + t.chunks[1]);
    }
  }
  EXPECT_EQ(Stored(*store, t.id), t.bytes);
  absl::StatusOr<TraceRecord> r = store->GetTrace(t.id);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->complete);
  EXPECT_EQ(r->chunks, t.chunks.size());
  EXPECT_EQ(r->bytes, t.bytes.size());
  EXPECT_EQ(r->header.workload(), "game");
  EXPECT_EQ(r->sequence, 1u);
  EXPECT_GE(store->SizeBytes(), t.bytes.size());
  // Begin again: complete, nothing more expected.
  st = store->BeginTrace(t.head);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->complete);
  EXPECT_EQ(st->next_chunk, t.chunks.size());
  EXPECT_EQ(store->AppendChunk(t.id, t.chunks.size(), t.chunks.back()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->GetTrace(std::string(16, 'z')).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->OpenTrace(std::string(16, 'z')).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreContract, AnUploadResumesAfterAReopenAndResendsAreIdempotent) {
  const Split t = RecordTrace(2);
  const size_t half = t.chunks.size() / 2;
  {
    auto store = OpenStore();
    Upload(*store, t, half);
  }
  auto store = OpenStore();
  absl::StatusOr<UploadState> st = store->BeginTrace(t.head);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->next_chunk, half);
  EXPECT_FALSE(st->complete);
  EXPECT_TRUE(store->AppendChunk(t.id, 0, t.chunks[0]).ok()) << "a resend of an acked chunk";
  absl::Status ahead = store->AppendChunk(t.id, half + 1, t.chunks[half + 1]);
  EXPECT_EQ(ahead.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(ahead.message().find(absl::StrCat("expected chunk ", half)), std::string::npos)
      << ahead;
  for (size_t i = half; i < t.chunks.size(); ++i) {
    ASSERT_TRUE(store->AppendChunk(t.id, i, t.chunks[i]).ok()) << i;
  }
  EXPECT_EQ(Stored(*store, t.id), t.bytes);
  ASSERT_EQ(store->ListTraces()->size(), 1u);
}

TEST_P(StoreContract, BadChunksAndHeadsAreRefusedWithTheRightCode) {
  const Split t = RecordTrace(3);
  const Split other = RecordTrace(4);
  auto store = OpenStore();
  ASSERT_TRUE(store->BeginTrace(t.head).ok());
  std::string damaged = t.chunks[0];
  damaged[damaged.size() / 2] ^= 0x40;
  EXPECT_EQ(store->AppendChunk(t.id, 0, damaged).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AppendChunk(t.id, 0, t.chunks[0].substr(0, 20)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AppendChunk(t.id, 0, other.chunks[0]).code(), absl::StatusCode::kInvalidArgument)
      << "another trace's chunk";
  EXPECT_EQ(store->AppendChunk(t.id, 1, t.chunks[0]).code(), absl::StatusCode::kInvalidArgument)
      << "the envelope names another index";
  absl::Status columns = store->AppendChunk(t.id, 0, DamageColumns(t.chunks[0]));
  EXPECT_EQ(columns.code(), absl::StatusCode::kInvalidArgument) << "well framed, columns damaged";
  EXPECT_NE(columns.message().find("chunk 0: "), std::string::npos) << columns;
  EXPECT_EQ(store->AppendChunk(other.id, 0, other.chunks[0]).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->BeginTrace("garbage").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->BeginTrace(t.head + "x").status().code(), absl::StatusCode::kInvalidArgument);
  // Same trace id, another header.
  std::string forged = other.head;
  const size_t at = forged.find(other.id);
  ASSERT_NE(at, std::string::npos);
  forged.replace(at, 16, t.id);
  // Fix the frame's checksums so that only the conflict is wrong.
  std::string payload = forged.substr(trace::kPreambleSize + trace::kFrameHeaderSize);
  std::string rebuilt = forged.substr(0, trace::kPreambleSize);
  trace::AppendFrame(rebuilt, trace::kFrameHeader, payload);
  EXPECT_EQ(store->BeginTrace(rebuilt).status().code(), absl::StatusCode::kAlreadyExists);
  // Once chunk 0 is stored, a well-formed chunk 0 with other bytes: the
  // other trace's, its envelope renamed and its checksum fixed.
  ASSERT_TRUE(store->AppendChunk(t.id, 0, t.chunks[0]).ok());
  std::string chunk_payload = other.chunks[0].substr(trace::kFrameHeaderSize);
  const size_t id_at = chunk_payload.find(other.id);
  ASSERT_NE(id_at, std::string::npos);
  chunk_payload.replace(id_at, 16, t.id);
  std::string renamed;
  trace::AppendFrame(renamed, trace::kFrameChunk, chunk_payload);
  EXPECT_EQ(store->AppendChunk(t.id, 0, renamed).code(), absl::StatusCode::kAlreadyExists);
  // Nothing of this reached the stored trace.
  EXPECT_EQ(store->GetTrace(t.id)->chunks, 1u);
  EXPECT_EQ(store->write_failures(), 0u);
}

TEST_P(StoreContract, AFullDiskAcknowledgesNothingAndLosesNothing) {
  const Split t = RecordTrace(5);
  auto store = OpenStore();
  Upload(*store, t, 1);
  for (const std::string& fp : StoreFailpoints()) {
    if (fp == "after_commit") continue;  // past the point of acknowledging
    setenv("FAULTLAB_FAILPOINT", (fp + ":enospc").c_str(), 1);
    EXPECT_EQ(store->AppendChunk(t.id, 1, t.chunks[1]).code(), absl::StatusCode::kResourceExhausted)
        << fp;
    unsetenv("FAULTLAB_FAILPOINT");
    EXPECT_EQ(store->GetTrace(t.id)->chunks, 1u) << fp;
  }
  EXPECT_EQ(store->write_failures(), StoreFailpoints().size() - 1);
  EXPECT_NE(store->WriteProblem().find("No space left on device"), std::string::npos)
      << "what /healthz says while writes fail";
  for (size_t i = 1; i < t.chunks.size(); ++i) {
    ASSERT_TRUE(store->AppendChunk(t.id, i, t.chunks[i]).ok()) << i;
  }
  EXPECT_EQ(Stored(*store, t.id), t.bytes);
  EXPECT_EQ(store->WriteProblem(), "") << "a write that worked clears it";
  // A new trace refused for a full disk leaves no blob behind.
  const Split other = RecordTrace(8);
  setenv("FAULTLAB_FAILPOINT", "after_blob_write:enospc", 1);
  EXPECT_EQ(store->BeginTrace(other.head).status().code(), absl::StatusCode::kResourceExhausted);
  unsetenv("FAULTLAB_FAILPOINT");
  size_t blobs = 0;
  for (const auto& f : std::filesystem::directory_iterator(backing_->BlobDir()))
    blobs += f.is_regular_file();
  EXPECT_EQ(blobs, 1u) << "only the first trace's";
}

TEST_P(StoreContract, ACrashAtAnyFailpointLosesNoAcknowledgedChunk) {
  const Split t = RecordTrace(6);
  const size_t acked_before_crash = 3;
  for (const std::string& fp : StoreFailpoints()) {
    absl::StatusOr<std::unique_ptr<Backing>> fresh = GetParam().fresh();  // one per failpoint
    ASSERT_TRUE(fresh.ok()) << fresh.status();
    backing_ = std::move(*fresh);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = backing_->Open();
      if (!s.ok() || !(*s)->BeginTrace(t.head).ok()) _exit(1);
      for (size_t i = 0; i < t.chunks.size(); ++i) {
        if (i == acked_before_crash) setenv("FAULTLAB_FAILPOINT", fp.c_str(), 1);
        if (!(*s)->AppendChunk(t.id, i, t.chunks[i]).ok()) _exit(2);
      }
      _exit(0);  // the failpoint never fired
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 137) << fp << ": the child did not crash there";
    // Restart: every acknowledged chunk is there; the upload resumes.
    auto store = OpenStore();
    absl::StatusOr<UploadState> st = store->BeginTrace(t.head);
    ASSERT_TRUE(st.ok()) << fp << ": " << st.status();
    EXPECT_EQ(st->next_chunk, acked_before_crash + (fp == "after_commit" ? 1 : 0)) << fp;
    EXPECT_FALSE(st->complete);
    for (size_t i = 0; i < t.chunks.size(); ++i) {  // the agent resends from its last ack
      if (i + 1 < acked_before_crash) continue;
      ASSERT_TRUE(store->AppendChunk(t.id, i, t.chunks[i]).ok()) << fp << " chunk " << i;
    }
    EXPECT_EQ(Stored(*store, t.id), t.bytes) << fp;
  }
}

TEST_P(StoreContract, TwoUploadsOfOneTraceTakeTurns) {
  // An agent that reconnected while its old stream lingers: both send every
  // chunk; each append waits for the other's, then finds it stored.
  const Split t = RecordTrace(7);
  auto store = OpenStore();
  ASSERT_TRUE(store->BeginTrace(t.head).ok());
  std::atomic<int> failures{0};
  auto send = [&] {
    for (size_t i = 0; i < t.chunks.size(); ++i) {
      if (!store->AppendChunk(t.id, i, t.chunks[i]).ok()) failures.fetch_add(1);
    }
  };
  std::thread a(send), b(send);
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Stored(*store, t.id), t.bytes);
  EXPECT_EQ(store->GetTrace(t.id)->chunks, t.chunks.size());
}

TEST_P(StoreContract, ConcurrentUploadsOfManyTracesAllLand) {
  std::vector<Split> traces;
  for (uint64_t seed = 10; seed < 16; ++seed) traces.push_back(RecordTrace(seed));
  auto store = OpenStore();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (const Split& t : traces) {
    threads.emplace_back([&store, &failures, &t] {
      if (!store->BeginTrace(t.head).ok()) failures.fetch_add(1);
      for (size_t i = 0; i < t.chunks.size(); ++i) {
        if (!store->AppendChunk(t.id, i, t.chunks[i]).ok()) failures.fetch_add(1);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (const Split& t : traces) EXPECT_EQ(Stored(*store, t.id), t.bytes);
  absl::StatusOr<std::vector<TraceRecord>> listed = store->ListTraces();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), traces.size());
  for (size_t i = 1; i < listed->size(); ++i)
    EXPECT_LT((*listed)[i - 1].sequence, (*listed)[i].sequence);
}

TEST_P(StoreContract, ReplaysAreClaimedOldestFirstLeasedAndStoredOnce) {
  const Split a = RecordTrace(1), b = RecordTrace(2), c = RecordTrace(3), partial = RecordTrace(4);
  auto store = OpenStore();
  Upload(*store, a, a.chunks.size());
  Upload(*store, partial, 2);
  Upload(*store, b, b.chunks.size());
  EXPECT_EQ(*store->PendingReplays(), (std::vector<std::string>{a.id, b.id}))
      << "complete ones only";
  using Claim = std::optional<std::string>;
  EXPECT_EQ(*store->ClaimReplay("one", 60000), Claim(a.id));
  EXPECT_EQ(*store->ClaimReplay("two", 60000), Claim(b.id)) << "a is leased";
  EXPECT_EQ(*store->ClaimReplay("two", 60000), Claim());
  // A lease that has run out is taken over.
  Upload(*store, c, c.chunks.size());
  EXPECT_EQ(*store->ClaimReplay("one", 0), Claim(c.id));
  EXPECT_EQ(*store->ClaimReplay("two", 60000), Claim(c.id));

  EXPECT_EQ(store->GetReplay(a.id).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->SaveReplay(a.id, "identical", "report a").ok());
  EXPECT_EQ(store->SaveReplay(a.id, "diverged", "later").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*store->GetReplay(a.id),
            std::make_pair(std::string("identical"), std::string("report a")));
  EXPECT_EQ(*store->PendingReplays(), (std::vector<std::string>{b.id, c.id}));
  EXPECT_TRUE(*store->LeadAnalysis()) << "the only server of its store leads";
}

RunRecord RunOf(const Split& t, const std::string& board, uint64_t p50) {
  RunRecord r;
  r.trace_id = t.id;
  r.board = board;
  r.gpu = "g610";
  r.workload = "game";
  r.variant = "series-fixed";
  r.policy = "noretry";
  r.faults = 3;
  r.p50_ns = p50;
  r.verdict = "insufficient_baseline";
  r.latencies = {p50 / 2, p50, p50 * 3};
  r.change_point = "";
  return r;
}

TEST_P(StoreContract, RunsAreQueuedInCompletionOrderAndKeepTheirNumber) {
  const Split a = RecordTrace(1), b = RecordTrace(2), c = RecordTrace(3);
  auto store = OpenStore();
  // a arrives first, b completes first.
  Upload(*store, a, 1);
  Upload(*store, b, b.chunks.size());
  for (size_t i = 1; i < a.chunks.size(); ++i)
    ASSERT_TRUE(store->AppendChunk(a.id, i, a.chunks[i]).ok());
  Upload(*store, c, c.chunks.size());
  EXPECT_EQ(*store->PendingRuns(), (std::vector<std::string>{b.id, a.id, c.id}));

  RunRecord rb = RunOf(b, "x", 1000), ra = RunOf(a, "y", 2000), rc = RunOf(c, "x", 3000);
  for (RunRecord* r : {&rb, &ra, &rc}) ASSERT_TRUE(store->SaveRun(r).ok());
  EXPECT_LT(rb.run, ra.run);
  EXPECT_LT(ra.run, rc.run);
  EXPECT_TRUE(store->PendingRuns()->empty());

  RunFilter x;
  x.board = "x";
  absl::StatusOr<std::vector<RunRecord>> listed = store->ListRuns(x);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].trace_id, b.id);
  EXPECT_EQ((*listed)[1].trace_id, c.id);
  EXPECT_TRUE((*listed)[1].latencies.empty()) << "not asked for";
  x.limit = 1;
  x.with_latencies = true;
  listed = store->ListRuns(x);
  ASSERT_EQ(listed->size(), 1u) << "the newest one";
  EXPECT_EQ((*listed)[0].latencies, rc.latencies);
  EXPECT_EQ((*listed)[0].p50_ns, 3000u);

  // Judged again (a restart between save and ack): same number, new verdict.
  RunRecord again = RunOf(b, "x", 1000);
  again.verdict = "regressed";
  again.p_value = 0.25;
  ASSERT_TRUE(store->SaveRun(&again).ok());
  EXPECT_EQ(again.run, rb.run);
  absl::StatusOr<RunRecord> got = store->GetRun(b.id, /*with_latencies=*/true);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->verdict, "regressed");
  EXPECT_EQ(got->p_value, 0.25);
  EXPECT_EQ(got->latencies, rb.latencies);
  EXPECT_EQ(store->ListRuns({})->front().trace_id, b.id) << "its place in the series kept";
  EXPECT_EQ(store->GetRun(std::string(16, 'z'), false).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContract, AWhatIfCellIsStoredOnce) {
  const Split a = RecordTrace(1);
  auto store = OpenStore();
  Upload(*store, a, a.chunks.size());
  ASSERT_TRUE(store->SaveWhatIf(a.id, {"policy=pool", "open", "identical", "first"}).ok());
  ASSERT_TRUE(store->SaveWhatIf(a.id, {"policy=pool", "open", "identical", "second"}).ok());
  absl::StatusOr<WhatIfRecord> w = store->GetWhatIf(a.id, "policy=pool", "open");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->report, "first");
  EXPECT_EQ(store->GetWhatIf(a.id, "policy=pool", "rerun").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreContract, ABoardKeepsItsNewestCalibratedProfile) {
  auto store = OpenStore();
  EXPECT_EQ(store->GetBoardProfile("rk3588-03").status().code(), absl::StatusCode::kNotFound);
  BoardProfileRecord first{"rk3588-03", "g610", "rk3588-03-calibrated", "id = x\n", "fit 1", 4, 0};
  ASSERT_TRUE(store->SaveBoardProfile(&first).ok());
  EXPECT_EQ(first.version, 1u);
  BoardProfileRecord newer = first;
  newer.text = "id = y\n";
  newer.through = 9;
  ASSERT_TRUE(store->SaveBoardProfile(&newer).ok());
  EXPECT_EQ(newer.version, 2u);
  // A calibration that ends later but saw only older traces does not win.
  BoardProfileRecord stale = first;
  stale.through = 7;
  EXPECT_EQ(store->SaveBoardProfile(&stale).code(), absl::StatusCode::kAlreadyExists);
  absl::StatusOr<BoardProfileRecord> got = store->GetBoardProfile("rk3588-03");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->text, "id = y\n");
  EXPECT_EQ(got->base, "g610");
  EXPECT_EQ(got->id, "rk3588-03-calibrated");
  EXPECT_EQ(got->fit, "fit 1");
  EXPECT_EQ(got->through, 9u);
  EXPECT_EQ(got->version, 2u);
  BoardProfileRecord other{"odroid-m2", "g610", "odroid-m2-calibrated", "t", "f", 1, 0};
  ASSERT_TRUE(store->SaveBoardProfile(&other).ok());
  EXPECT_EQ(other.version, 1u) << "versions count per board";
  store.reset();
  EXPECT_EQ(OpenStore()->GetBoardProfile("rk3588-03")->version, 2u) << "durable";
}

TEST_P(StoreContract, ReopeningNamesTheSameStoreAndDoesNotMigrateAgain) {
  std::string identity;
  { identity = OpenStore()->Identity(); }
  EXPECT_EQ(OpenStore()->Identity(), identity);
  absl::StatusOr<std::string> versions = backing_->Query("SELECT COUNT(*) FROM schema_version");
  ASSERT_TRUE(versions.ok()) << versions.status();
  absl::StatusOr<std::string> newest = backing_->Query("SELECT MAX(version) FROM schema_version");
  EXPECT_EQ(*versions, *newest) << "each migration once";
  ASSERT_TRUE(backing_->Query("INSERT INTO schema_version VALUES (99)").ok());
  absl::StatusOr<std::unique_ptr<Store>> s = backing_->Open();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("schema version 99 is newer"), std::string::npos)
      << s.status();
}

INSTANTIATE_TEST_SUITE_P(Dialects, StoreContract, ::testing::ValuesIn(kDialects),
                         [](const ::testing::TestParamInfo<Dialect>& p) {
                           return std::string(p.param.name);
                         });

// Dialect-specific: upgrades of a database written by an older server.
// (PostgreSQL's: tests/e2e/postgres_test.sh, from schema version 1.)

TEST(SqliteUpgrade, ADatabaseFromBeforeCompletionOrderKeepsItsArrivalOrder) {
  const Split a = RecordTrace(1), b = RecordTrace(2);
  SqliteBacking backing;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = backing.Open();
    ASSERT_TRUE(store.ok());
    Upload(**store, a, a.chunks.size());
    Upload(**store, b, b.chunks.size());
  }
  // Back to schema version 3: no completion order recorded.
  ASSERT_TRUE(backing.Query("ALTER TABLE traces DROP COLUMN completed_seq").ok());
  ASSERT_TRUE(backing.Query("DROP TABLE board_profiles").ok());
  ASSERT_TRUE(backing.Query("DELETE FROM schema_version WHERE version >= 4").ok());
  absl::StatusOr<std::unique_ptr<Store>> store = backing.Open();
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*backing.Query("SELECT MAX(version) FROM schema_version"),
            absl::StrCat(SqliteStore::SchemaVersion()));
  EXPECT_EQ(*(*store)->PendingRuns(), (std::vector<std::string>{a.id, b.id}));
  const Split c = RecordTrace(3);
  Upload(**store, c, c.chunks.size());
  EXPECT_EQ(*(*store)->PendingRuns(), (std::vector<std::string>{a.id, b.id, c.id}));
}

}  // namespace
}  // namespace faultlab::server
