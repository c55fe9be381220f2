// RunAnalyzer over a real store: the first N runs of a series have no
// baseline; a run like its baseline is unchanged; a run whose fault path is
// 30 % slower (fault_cost_permille, the backfill's injection) is regressed, a
// faster one improved; the change point names the first slow run; verdicts
// reach the metrics; a re-analysis does not count the run in its own baseline.
#include "server/regress/analyzer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "absl/strings/str_cat.h"
#include "engine/replay/recorder.h"
#include "engine/trace/frame.h"
#include "server/store/sqlite_store.h"

namespace faultlab::server {
namespace {

class AnalyzerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/faultlab-analyzer-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto s = SqliteStore::Open(dir_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  void TearDown() override { (void)system(("rm -rf " + dir_).c_str()); }

  // Records compute (2 frames) on board `board` and stores it; returns its id.
  std::string Add(const std::string& board, uint64_t seed, uint32_t fault_cost_permille) {
    dev::DeviceConfig cfg;
    cfg.profile = *profiles::LoadProfile("g610");
    cfg.seed = seed;
    cfg.fault_cost_permille = fault_cost_permille;
    std::string id = absl::StrCat(board, "-", seed, "-", fault_cost_permille);
    id.resize(16, '.');
    absl::StatusOr<replay::Recording> rec =
        replay::RecordWorkload(cfg, {"compute", seed, 2}, board, id);
    EXPECT_TRUE(rec.ok()) << rec.status();
    absl::StatusOr<trace::TraceFrames> f = trace::SplitFrames(rec->bytes);
    EXPECT_TRUE(f.ok());
    absl::StatusOr<UploadState> st = store_->BeginTrace(f->head);
    EXPECT_TRUE(st.ok()) << st.status();
    for (size_t i = 0; i < f->chunks.size(); ++i) {
      EXPECT_TRUE(store_->AppendChunk(st->trace_id, i, f->chunks[i]).ok());
    }
    return id;
  }

  std::string dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(AnalyzerTest, VerdictsAgainstTheBaselineOfTheSeries) {
  ServerMetrics metrics;
  RunAnalyzer analyzer(store_.get(), &metrics, AnalyzerOptions{}, /*start_thread=*/false);
  std::vector<std::string> ids;
  std::vector<RunRecord> runs;
  auto run = [&](const std::string& board, uint64_t seed, uint32_t cost) {
    ids.push_back(Add(board, seed, cost));
    absl::StatusOr<RunRecord> r = analyzer.Analyze(ids.back());
    EXPECT_TRUE(r.ok()) << r.status();
    runs.push_back(r.ok() ? *r : RunRecord{});
    return runs.back();
  };
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    RunRecord r = run("rock5b", seed, 1000);
    EXPECT_EQ(r.verdict, "insufficient_baseline");
    EXPECT_EQ(r.baseline_runs, seed - 1);
    EXPECT_GT(r.faults, 100u);
    EXPECT_LE(r.p50_ns, r.p99_ns);
  }
  EXPECT_EQ(run("rock5b", 6, 1000).verdict, "unchanged");
  RunRecord slow1 = run("rock5b", 7, 1300);
  EXPECT_EQ(slow1.verdict, "regressed");
  EXPECT_GT(slow1.cliffs_delta, 0.2);
  EXPECT_GT(slow1.median_ratio, 1.2);
  EXPECT_EQ(slow1.baseline_runs, 5u);
  EXPECT_EQ(run("rock5b", 8, 1300).verdict, "regressed");
  RunRecord slow3 = run("rock5b", 9, 1300);
  EXPECT_EQ(slow3.change_point, ids[6]) << "the first slow run";
  EXPECT_TRUE(runs[5].change_point.empty());

  // Another series has its own baseline: a faster fault path is improved.
  for (uint64_t seed = 1; seed <= 5; ++seed) run("odroid", seed, 1000);
  RunRecord fast = run("odroid", 6, 700);
  EXPECT_EQ(fast.verdict, "improved");
  EXPECT_LT(fast.cliffs_delta, -0.2);

  // Stored, listed per series oldest first, with latencies on request.
  RunFilter f;
  f.board = "rock5b";
  absl::StatusOr<std::vector<RunRecord>> listed = store_->ListRuns(f);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 9u);
  EXPECT_EQ((*listed)[6].verdict, "regressed");
  EXPECT_TRUE((*listed)[6].latencies.empty());
  f.limit = 2;
  f.with_latencies = true;
  listed = store_->ListRuns(f);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].trace_id, ids[8]);
  EXPECT_EQ((*listed)[1].latencies.size(), (*listed)[1].faults);
  EXPECT_TRUE(std::is_sorted((*listed)[1].latencies.begin(), (*listed)[1].latencies.end()));
  EXPECT_EQ(QuantileNs((*listed)[1].latencies, 500), (*listed)[1].p50_ns);

  // Analysing a run again (a restart between save and ack) does not put it
  // in its own baseline.
  absl::StatusOr<RunRecord> again = analyzer.Analyze(ids[6]);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->baseline_runs, 5u);
  absl::StatusOr<std::vector<std::string>> pending = store_->PendingRuns();
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->empty());

  const std::string text = metrics.Scrape();
  const std::string series =
      "board=\"rock5b\",gpu=\"g610\",policy=\"noretry\",variant=\"series-fixed\"";
  auto count = [&](const std::string& verdict) -> int {
    const std::string key = "faultlab_regression_verdicts_total{" + series + ",verdict=\"" +
                            verdict + "\",workload=\"compute\"} ";
    const size_t at = text.find(key);
    return at == std::string::npos ? -1 : std::atoi(text.c_str() + at + key.size());
  };
  // Runs 7 and 8, perhaps 9, and the re-analysis of 7.
  EXPECT_GE(count("regressed"), 3) << text.substr(0, 3000);
  EXPECT_EQ(count("improved"), 0);
  EXPECT_EQ(count("insufficient_baseline"), 5);
  EXPECT_EQ(count("unchanged") + count("regressed"), 5);
  EXPECT_NE(text.find("faultlab_regression_regressed{" + series + ",workload=\"compute\"} "),
            std::string::npos);
  EXPECT_NE(text.find("source=\"recorded\""), std::string::npos);
}

TEST_F(AnalyzerTest, TheThreadPicksUpPendingRunsInArrivalOrder) {
  std::vector<std::string> ids;
  for (uint64_t seed = 1; seed <= 6; ++seed) ids.push_back(Add("rock5b", seed, 1000));
  RunAnalyzer analyzer(store_.get(), nullptr, AnalyzerOptions{});
  ASSERT_TRUE(analyzer.EnqueuePending().ok());
  analyzer.WaitIdle();
  absl::StatusOr<std::vector<RunRecord>> runs = store_->ListRuns({});
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ((*runs)[i].trace_id, ids[i]);
  EXPECT_EQ((*runs)[5].verdict, "unchanged");
}

}  // namespace
}  // namespace faultlab::server
