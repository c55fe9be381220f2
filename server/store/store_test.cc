// SqliteStore: uploads round-trip byte for byte, resume after a reopen, are
// idempotent by (trace id, chunk index), refuse bad chunks with the right
// code, survive a full disk with nothing acknowledged, and survive a crash
// (a child process _exit()ing at each failpoint) with no acknowledged chunk
// lost and the upload resumable.
#include "server/store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "engine/replay/recorder.h"
#include "engine/trace/frame.h"
#include "engine/trace/writer.h"
#include "engine/workload/workload.h"
#include "server/store/failpoint.h"

namespace faultlab::server {
namespace {

struct Split {
  std::string bytes;               // the whole trace file
  std::string head;                // preamble + header frame
  std::vector<std::string> chunks;  // chunk frames
  std::string id;
};

Split RecordTrace(uint64_t seed) {
  dev::DeviceConfig cfg;
  cfg.profile = *profiles::LoadProfile("g610");
  cfg.seed = seed;
  Split s;
  s.id = std::string(16, static_cast<char>('a' + seed));
  trace::WriterOptions opts;
  opts.max_events_per_chunk = 64;  // many chunks
  absl::StatusOr<replay::Recording> r = replay::RecordWorkload(cfg, {"game", seed, 4}, "test", s.id, opts);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return s;
  s.bytes = r->bytes;
  absl::StatusOr<trace::TraceFrames> f = trace::SplitFrames(s.bytes);
  EXPECT_TRUE(f.ok()) << f.status();
  if (f.ok()) {
    s.head = f->head;
    s.chunks = f->chunks;
  }
  return s;
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

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("FAULTLAB_FAILPOINT");
    char tmpl[] = "/tmp/faultlab-store-XXXXXX";
    const char* base = std::getenv("TEST_TMPDIR");
    std::string t = base ? std::string(base) + "/storeXXXXXX" : tmpl;
    ASSERT_NE(mkdtemp(t.data()), nullptr);
    dir_ = t + "/data";
  }
  void TearDown() override { unsetenv("FAULTLAB_FAILPOINT"); }
  std::unique_ptr<SqliteStore> OpenStore() {
    auto s = SqliteStore::Open(dir_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::string dir_;
};

TEST_F(StoreTest, AnUploadRoundTripsByteForByte) {
  const Split t = RecordTrace(1);
  ASSERT_GT(t.chunks.size(), 4u);
  auto store = OpenStore();
  absl::StatusOr<UploadState> st = store->BeginTrace(t.head);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->next_chunk, 0u);
  for (size_t i = 0; i < t.chunks.size(); ++i) {
    ASSERT_TRUE(store->AppendChunk(t.id, i, t.chunks[i]).ok()) << i;
  }
  EXPECT_EQ(Stored(*store, t.id), t.bytes);
  absl::StatusOr<TraceRecord> r = store->GetTrace(t.id);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->complete);
  EXPECT_EQ(r->chunks, t.chunks.size());
  EXPECT_EQ(r->bytes, t.bytes.size());
  EXPECT_EQ(r->header.workload(), "game");
  EXPECT_EQ(r->sequence, 1u);
  // Begin again: complete, nothing more expected.
  st = store->BeginTrace(t.head);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->complete);
  EXPECT_EQ(st->next_chunk, t.chunks.size());
}

TEST_F(StoreTest, AnUploadResumesAfterAReopenAndResendsAreIdempotent) {
  const Split t = RecordTrace(2);
  const size_t half = t.chunks.size() / 2;
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->BeginTrace(t.head).ok());
    for (size_t i = 0; i < half; ++i) ASSERT_TRUE(store->AppendChunk(t.id, i, t.chunks[i]).ok());
  }
  auto store = OpenStore();
  absl::StatusOr<UploadState> st = store->BeginTrace(t.head);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->next_chunk, half);
  EXPECT_FALSE(st->complete);
  EXPECT_TRUE(store->AppendChunk(t.id, 0, t.chunks[0]).ok()) << "a resend of an acked chunk";
  EXPECT_EQ(store->AppendChunk(t.id, half + 1, t.chunks[half + 1]).code(),
            absl::StatusCode::kFailedPrecondition);
  for (size_t i = half; i < t.chunks.size(); ++i) {
    ASSERT_TRUE(store->AppendChunk(t.id, i, t.chunks[i]).ok()) << i;
  }
  EXPECT_EQ(Stored(*store, t.id), t.bytes);
  ASSERT_EQ(store->ListTraces()->size(), 1u);
}

TEST_F(StoreTest, BadChunksAndHeadsAreRefusedWithTheRightCode) {
  const Split t = RecordTrace(3);
  const Split other = RecordTrace(4);
  auto store = OpenStore();
  ASSERT_TRUE(store->BeginTrace(t.head).ok());
  std::string damaged = t.chunks[0];
  damaged[damaged.size() / 2] ^= 0x40;
  EXPECT_EQ(store->AppendChunk(t.id, 0, damaged).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AppendChunk(t.id, 0, t.chunks[0].substr(0, 20)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->AppendChunk(t.id, 0, other.chunks[0]).code(),
            absl::StatusCode::kInvalidArgument) << "another trace's chunk";
  EXPECT_EQ(store->AppendChunk(t.id, 1, t.chunks[0]).code(), absl::StatusCode::kInvalidArgument)
      << "the envelope names another index";
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
  // Nothing of this reached the stored trace.
  ASSERT_TRUE(store->AppendChunk(t.id, 0, t.chunks[0]).ok());
  EXPECT_EQ(store->GetTrace(t.id)->chunks, 1u);
}

TEST_F(StoreTest, AFullDiskAcknowledgesNothingAndLosesNothing) {
  const Split t = RecordTrace(5);
  auto store = OpenStore();
  ASSERT_TRUE(store->BeginTrace(t.head).ok());
  ASSERT_TRUE(store->AppendChunk(t.id, 0, t.chunks[0]).ok());
  for (const std::string& fp : StoreFailpoints()) {
    if (fp == "after_commit") continue;  // past the point of acknowledging
    setenv("FAULTLAB_FAILPOINT", (fp + ":enospc").c_str(), 1);
    EXPECT_EQ(store->AppendChunk(t.id, 1, t.chunks[1]).code(), absl::StatusCode::kResourceExhausted)
        << fp;
    unsetenv("FAULTLAB_FAILPOINT");
    EXPECT_EQ(store->GetTrace(t.id)->chunks, 1u) << fp;
  }
  EXPECT_EQ(store->write_failures(), StoreFailpoints().size() - 1);
  for (size_t i = 1; i < t.chunks.size(); ++i) {
    ASSERT_TRUE(store->AppendChunk(t.id, i, t.chunks[i]).ok()) << i;
  }
  EXPECT_EQ(Stored(*store, t.id), t.bytes);
}

TEST_F(StoreTest, ACrashAtAnyFailpointLosesNoAcknowledgedChunk) {
  const Split t = RecordTrace(6);
  const size_t acked_before_crash = 3;
  int round = 0;
  for (const std::string& fp : StoreFailpoints()) {
    dir_ += "-" + std::to_string(round++);  // a fresh data dir per failpoint
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = SqliteStore::Open(dir_);
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

TEST_F(StoreTest, ANewerSchemaIsRefusedAndReopeningDoesNotMigrateAgain) {
  { auto store = OpenStore(); }
  { auto store = OpenStore(); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/faultlab.db").c_str(), &db), SQLITE_OK);
  int count = -1;
  sqlite3_exec(db, "SELECT COUNT(*) FROM schema_version",
               [](void* c, int, char** v, char**) {
                 *static_cast<int*>(c) = std::atoi(v[0]);
                 return 0;
               },
               &count, nullptr);
  EXPECT_EQ(count, SqliteStore::SchemaVersion());
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99)", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto s = SqliteStore::Open(dir_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("schema version 99 is newer"), std::string::npos);
}

}  // namespace
}  // namespace faultlab::server
