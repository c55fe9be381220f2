#include "lib/metrics/family.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <sstream>

namespace faultlab::metrics {
namespace {

const Family kRuns{"t_runs_total", Type::kCounter, "Runs", {"board", "result"}};
const Family kDepth{"t_depth", Type::kGauge, "Depth", {}};
const Family kLatency{"t_latency_seconds", Type::kHistogram, "Latency", {"outcome"}};

std::string Expose(prometheus::Registry& r) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, r.Collect());
  return out.str();
}

TEST(Family, AnExpositionMatchesItsList) {
  prometheus::Registry r;
  AddCounter(r, kRuns).Add(Labels(kRuns, {"rock5b", "ok"})).Increment();
  AddGauge(r, kDepth).Add({}).Set(3);
  AddHistogram(r, kLatency)
      .Add(Labels(kLatency, {"handled"}), prometheus::Histogram::BucketBoundaries{1, 2})
      .Observe(1.5);
  EXPECT_TRUE(CheckExposition(Expose(r), {&kRuns, &kDepth, &kLatency}).ok())
      << CheckExposition(Expose(r), {&kRuns, &kDepth, &kLatency});
}

TEST(Family, CheckExpositionNamesWhatDisagrees) {
  prometheus::Registry good;
  AddCounter(good, kRuns).Add(Labels(kRuns, {"rock5b", "ok"})).Increment();
  AddGauge(good, kDepth).Add({}).Set(1);
  const std::string text = Expose(good);
  ASSERT_TRUE(CheckExposition(text, {&kRuns, &kDepth}).ok());
  EXPECT_NE(CheckExposition(text, {&kRuns, &kDepth, &kLatency})
                .message()
                .find("t_latency_seconds is not exposed"),
            std::string::npos);
  EXPECT_NE(CheckExposition(text, {&kDepth}).message().find("a family not in the list"),
            std::string::npos);
  const Family other_help{"t_depth", Type::kGauge, "Another help", {}};
  EXPECT_NE(CheckExposition(text, {&kRuns, &other_help}).message().find("help differs"),
            std::string::npos);
  const Family other_type{"t_depth", Type::kCounter, "Depth", {}};
  EXPECT_NE(CheckExposition(text, {&kRuns, &other_type}).message().find("type differs"),
            std::string::npos);

  prometheus::Registry bad;
  AddCounter(bad, kRuns).Add({{"board", "x"}}).Increment();  // a label short
  absl::Status s = CheckExposition(Expose(bad), {&kRuns});
  EXPECT_NE(s.message().find("labels {board}, declared {board,result}"), std::string::npos) << s;
}

TEST(Family, CheckDocumentedFindsEachRowAndItsLabels) {
  const std::string doc =
      "| metric | type | labels |\n|---|---|---|\n"
      "| `t_runs_total` | counter | `board`, `result` |\n| `t_depth` | gauge | |\n";
  EXPECT_TRUE(CheckDocumented(doc, {&kRuns, &kDepth}, {}).ok());
  EXPECT_EQ(CheckDocumented(doc, {&kLatency}, {}).message(), "t_latency_seconds has no table row");
  const std::string short_row = "| `t_runs_total` | counter | `result` |\n";
  EXPECT_EQ(CheckDocumented(short_row, {&kRuns}, {}).message(),
            "t_runs_total's row does not name its label `board`");
  EXPECT_TRUE(CheckDocumented(short_row, {&kRuns}, {"board"}).ok());
}

TEST(FamilyDeathTest, LabelsTakeOneValuePerName) {
  EXPECT_DEATH(Labels(kRuns, {"only-board"}),
               "t_runs_total takes 2 label values \\(board, result\\), given 1");
}

}  // namespace
}  // namespace faultlab::metrics
