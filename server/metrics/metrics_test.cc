// The server's exposition against its one list of families (families.h):
// every family exposed with its declared help, type and labels, after every
// kind of update; and every family documented in docs/metrics.md with its
// labels.
#include "server/metrics/metrics.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "server/metrics/families.h"

namespace faultlab::server {
namespace {

ReplayTally SomeFaults() {
  ReplayTally t;
  trace::Event fault;
  fault.kind = trace::EVENT_MMU_FAULT;
  fault.fault.outcome = trace::FAULT_HANDLED;
  fault.fault.latency_source = trace::LATENCY_MODELLED;
  fault.fault.latency_ns = 12000;
  t.Add(fault);
  trace::Event failure;
  failure.kind = trace::EVENT_ALLOC_FAILURE;
  failure.alloc_failure.kind = trace::ALLOC_PAGE;
  t.Add(failure);
  return t;
}

TEST(ServerMetrics, TheExpositionIsTheList) {
  ServerMetrics m;
  const SeriesLabels series{"rock5b", "g610", "game", "series-fixed", "noretry"};
  m.AddReplay(series, "identical", SomeFaults(), 0.02);
  m.AddReplay(series, "model_changed", SomeFaults(), 0.02);
  RunRecord run;
  run.verdict = "regressed";
  run.p50_ns = 1000;
  m.AddRun(series, SomeFaults(), run);
  m.AddWhatIf("identical");
  m.AddNondeterminism();
  m.ChunkAcked(4096);
  m.Rejected("damaged");
  m.store_bytes("sqlite:/data").Set(1);
  const std::string text = m.Scrape();
  absl::Status s = metrics::CheckExposition(text, families::All());
  EXPECT_TRUE(s.ok()) << s << "\n" << text.substr(0, 4000);
  EXPECT_NE(
      text.find("faultlab_regression_regressed{board=\"rock5b\",gpu=\"g610\",policy=\"noretry\","
                "variant=\"series-fixed\",workload=\"game\"} 1"),
      std::string::npos);
}

TEST(ServerMetrics, EveryFamilyIsDocumentedWithItsLabels) {
  std::ifstream in("docs/metrics.md");
  ASSERT_TRUE(in) << "docs/metrics.md in the runfiles";
  std::stringstream doc;
  doc << in.rdbuf();
  // The series labels are said once above the tables; a row says "series".
  absl::Status s = metrics::CheckDocumented(doc.str(), families::All(),
                                            {"board", "gpu", "workload", "variant", "policy"});
  EXPECT_TRUE(s.ok()) << "docs/metrics.md: " << s;
}

}  // namespace
}  // namespace faultlab::server
