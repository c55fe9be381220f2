// ReplayPool: pending traces (left by a restart) are replayed and saved;
// a tampered stored trace is `diverged`; metrics follow; the latency tally
// puts each fault in DESIGN's 1 us * 2^k bucket.
#include "server/replay/worker.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "engine/replay/recorder.h"
#include "engine/trace/frame.h"
#include "engine/trace/writer.h"
#include "engine/workload/workload.h"
#include "server/store/sqlite_store.h"

namespace faultlab::server {
namespace {

std::string Record(uint64_t seed, bool tamper) {
  dev::DeviceConfig cfg;
  cfg.profile = *profiles::LoadProfile("g610");
  cfg.seed = seed;
  std::string bytes;
  trace::StringSink sink(&bytes);
  std::string id(16, static_cast<char>('0' + seed));
  trace::TraceWriter writer(&sink, replay::MakeHeader(cfg, "compute", "lab", id, 0, 2));
  struct Tamper : events::Observer {
    replay::Recorder* rec;
    bool on;
    void OnEvent(const trace::Event& e) override {
      if (on && e.kind == trace::EVENT_MMU_FAULT) {
        trace::Event copy = e;
        copy.fault.latency_ns += 1;
        on = false;
        rec->OnEvent(copy);
        return;
      }
      rec->OnEvent(e);
    }
  };
  replay::Recorder rec(&writer);
  Tamper t;
  t.rec = &rec;
  t.on = tamper;
  dev::Device device(cfg);
  device.set_observer(&t);
  EXPECT_TRUE(workload::RunWorkload({"compute", seed, 2}, device).ok());
  device.set_observer(nullptr);
  EXPECT_TRUE(rec.Finish().ok());
  return bytes;
}

void Store1(SqliteStore& store, const std::string& bytes) {
  absl::StatusOr<trace::TraceFrames> f = trace::SplitFrames(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  absl::StatusOr<UploadState> st = store.BeginTrace(f->head);
  ASSERT_TRUE(st.ok()) << st.status();
  for (size_t i = 0; i < f->chunks.size(); ++i) {
    ASSERT_TRUE(store.AppendChunk(st->trace_id, i, f->chunks[i]).ok());
  }
}

TEST(ReplayPoolTest, PendingTracesAreReplayedSavedAndCounted) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(base ? base : "/tmp") + "/poolXXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  auto store = std::move(*SqliteStore::Open(dir + "/data"));
  Store1(*store, Record(1, false));
  Store1(*store, Record(2, true));
  ASSERT_EQ(store->PendingReplays()->size(), 2u);
  ServerMetrics metrics;
  {
    Sandbox sandbox("server/faultlab-replay-worker", SandboxPolicy{});  // in the runfiles
    ReplayPool pool(store.get(), &metrics, &sandbox, 2, 1);
    ASSERT_TRUE(pool.EnqueuePending().ok());
    pool.WaitIdle();
    EXPECT_EQ(pool.replays_done(), 2u);
  }
  EXPECT_TRUE(store->PendingReplays()->empty());
  EXPECT_EQ(store->GetReplay(std::string(16, '1'))->first, "identical");
  auto bad = store->GetReplay(std::string(16, '2'));
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->first, "diverged");
  EXPECT_NE(bad->second.find("divergences: 1"), std::string::npos) << bad->second;
  const std::string text = metrics.Scrape();
  EXPECT_NE(text.find("outcome=\"diverged\",policy=\"noretry\",variant=\"series-fixed\",workload="
                      "\"compute\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("faultlab_replay_nondeterminism_total 0"), std::string::npos);
}

TEST(ReplayTallyTest, FaultsLandInTheirPowerOfTwoMicrosecondBucket) {
  ReplayTally t;
  trace::Event e;
  e.kind = trace::EVENT_MMU_FAULT;
  e.fault.outcome = trace::FAULT_HANDLED;
  for (uint64_t ns : {1000u, 1001u, 2000u, 35777u, 2000000000u}) {
    e.fault.latency_ns = ns;
    t.Add(e);
  }
  const auto& b = t.buckets[trace::FAULT_HANDLED];
  EXPECT_EQ(b[0], 1u);   // <= 1 us
  EXPECT_EQ(b[1], 2u);   // (1, 2] us
  EXPECT_EQ(b[6], 1u);   // 35.8 us in (32, 64]
  EXPECT_EQ(b[21], 1u);  // 2 s: past 2^20 us, +Inf
  EXPECT_EQ(t.faults[trace::FAULT_HANDLED], 5u);
}

}  // namespace
}  // namespace faultlab::server
