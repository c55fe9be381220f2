// Record every workload, replay it: identical, twice; a tampered trace
// diverges at the right event; what-if replays run; model changes are reported.
#include <gtest/gtest.h>

#include <functional>

#include "absl/strings/str_join.h"
#include "engine/replay/recorder.h"
#include "engine/replay/replayer.h"
#include "engine/replay/version.h"
#include "engine/trace/io.h"
#include "engine/trace/text.h"
#include "engine/trace/writer.h"
#include "engine/workload/workload.h"

namespace faultlab::replay {
namespace {

std::string Record(const std::string& workload, uint32_t frames, Variant variant,
                   const char* policy = "noretry", bool pressure = false) {
  absl::StatusOr<profiles::Profile> p = profiles::LoadProfile("g610");
  dev::DeviceConfig cfg;
  cfg.profile = *p;
  cfg.variant = variant;
  cfg.policy = *policy::Canonical(policy);
  cfg.pressure.enabled = pressure;
  cfg.seed = 5;
  if (pressure) cfg.budget_bytes = 512ULL << 20;
  absl::StatusOr<Recording> r =
      RecordWorkload(cfg, {workload, 5, frames}, "test", std::string(16, 'x'));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->bytes : "";
}

ReplayResult ReplayBytes(const std::string& bytes, ReplayOptions opts = {}) {
  return Replay(
      [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
        return std::make_unique<trace::MemorySource>(bytes);
      },
      "mem", opts);
}

TEST(ReplayTest, EveryWorkloadReplaysIdentically) {
  for (const workload::WorkloadInfo& w : workload::Workloads()) {
    for (Variant v : {Variant::kSeriesFixed, Variant::kSeriesV3}) {
      const std::string bytes = Record(w.name, 3, v, "noretry", w.wants_pressure);
      ReplayResult r = ReplayBytes(bytes);
      ASSERT_TRUE(r.status.ok()) << w.name << ": " << r.status;
      EXPECT_EQ(r.outcome, ReplayOutcome::kIdentical)
          << w.name << " " << VariantName(v) << ": "
          << (r.divergences.empty() ? ""
                                    : r.divergences[0].expected + "\n vs " + r.divergences[0].got);
      EXPECT_GT(r.inputs, 0u);
      // Twice gives the same bytes of report.
      EXPECT_EQ(ReportText(ReplayBytes(bytes)), ReportText(r)) << w.name;
    }
  }
}

TEST(ReplayTest, ASlowerFaultPathIsRecordedAndReplaysIdentically) {
  // fault_cost_permille scales the fault path's costs (the backfill's
  // injected regression): the header carries it, so the replay agrees.
  absl::StatusOr<profiles::Profile> p = profiles::LoadProfile("g610");
  uint64_t p50[2];
  for (int i = 0; i < 2; ++i) {
    dev::DeviceConfig cfg;
    cfg.profile = *p;
    cfg.fault_cost_permille = i ? 1300 : 1000;
    absl::StatusOr<Recording> rec =
        RecordWorkload(cfg, {"compute", 5, 2}, "test", std::string(16, 'c'));
    ASSERT_TRUE(rec.ok()) << rec.status();
    ReplayResult r = ReplayBytes(rec->bytes);
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(r.outcome, ReplayOutcome::kIdentical);
    p50[i] = r.summary.LatencyQuantileNs(500);
  }
  EXPECT_GT(p50[1], p50[0] * 12 / 10);
  EXPECT_LT(p50[1], p50[0] * 14 / 10);
}

TEST(ReplayTest, ComputeAndGameFaultFromTheFirstFrame) {
  for (const char* w : {"compute", "game"}) {
    ReplayResult r = ReplayBytes(Record(w, 1, Variant::kSeriesFixed));
    EXPECT_GT(r.summary.faults_by_outcome(trace::FAULT_HANDLED), 0u) << w;
  }
}

// `bytes` re-encoded with `edit` applied to each event until it returns
// true (that event's index goes to *target); *lines gets every recorded
// event, formatted.
std::string Rewrite(const std::string& bytes, const std::function<bool(trace::Event*)>& edit,
                    uint64_t* target, std::vector<std::string>* lines) {
  trace::MemorySource src(bytes);
  trace::TraceReader reader(&src, "mem");
  EXPECT_TRUE(reader.Open().ok());
  std::string out;
  trace::StringSink sink(&out);
  trace::TraceWriter writer(&sink, reader.header());
  trace::Event e;
  bool done = false;
  while (reader.Next(&e)) {
    lines->push_back(trace::FormatEvent(reader.event_index(), e));
    if (!done && edit(&e)) {
      *target = reader.event_index();
      done = true;
    }
    EXPECT_TRUE(writer.Append(e).ok());
  }
  EXPECT_TRUE(writer.Finish().ok());
  EXPECT_TRUE(done) << "nothing to tamper with";
  return out;
}

TEST(ReplayTest, ATamperedTraceDivergesWhereItWasTampered) {
  // One fault's latency rewritten.
  uint64_t target = 0;
  std::vector<std::string> lines;
  const std::string tampered = Rewrite(
      Record("compute", 2, Variant::kSeriesFixed),
      [](trace::Event* e) {
        if (e->kind != trace::EVENT_MMU_FAULT) return false;
        e->fault.latency_ns += 1;
        return true;
      },
      &target, &lines);
  ReplayResult r = ReplayBytes(tampered);
  EXPECT_EQ(r.outcome, ReplayOutcome::kDiverged);
  ASSERT_FALSE(r.divergences.empty());
  EXPECT_EQ(r.divergences[0].index, target);
  EXPECT_NE(r.divergences[0].expected.find("mmu_fault"), std::string::npos);
  EXPECT_EQ(r.divergences[0].context.size(), 3u);
}

// A divergence's context is the events before it as they were produced:
// the checker keeps an ioctl's bytes (not its formatted line) as it goes by.
TEST(ReplayTest, ADivergencesContextShowsTheIoctlsBeforeIt) {
  // The fifth ioctl's recorded result is wrong: the replay's is not.
  uint64_t target = 0, ioctls = 0;
  std::vector<std::string> lines;
  const std::string tampered = Rewrite(
      Record("compute", 2, Variant::kSeriesFixed),
      [&ioctls](trace::Event* e) {
        if (e->kind != trace::EVENT_IOCTL || ++ioctls != 5) return false;
        e->ioctl.result = -22;
        return true;
      },
      &target, &lines);
  ReplayOptions opts;
  opts.context_events = 4;
  ReplayResult r = ReplayBytes(tampered, opts);
  ASSERT_FALSE(r.divergences.empty());
  ASSERT_EQ(r.divergences[0].index, target);
  ASSERT_GE(target, 4u);
  const std::vector<std::string> before(lines.begin() + target - 4, lines.begin() + target);
  EXPECT_EQ(r.divergences[0].context, before);
  EXPECT_NE(absl::StrJoin(before, "\n").find("ioctl"), std::string::npos);
}

WhatIf W(const std::vector<std::string>& key_values) {
  absl::StatusOr<WhatIf> w = ParseWhatIfArgs(key_values);
  EXPECT_TRUE(w.ok()) << w.status();
  return w.value_or(WhatIf());
}

TEST(ReplayTest, WhatIfRunsTheInputsOnAnotherDevice) {
  const std::string bytes = Record("compute", 2, Variant::kSeriesFixed);
  ReplayOptions opts;
  opts.what_if = W({"variant=series-v3"});
  ReplayResult r = ReplayBytes(bytes, opts);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.outcome, ReplayOutcome::kWhatIf);
  EXPECT_GT(r.summary.faults_by_outcome(trace::FAULT_EINVAL), 0u) << "v3 fails every fault";
  opts.what_if = W({"granularity=2M"});
  r = ReplayBytes(bytes, opts);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_FALSE(ParseWhatIfArgs({"colour=blue"}).ok());
}

TEST(ReplayTest, AnotherModelVersionIsModelChangedNotDivergence) {
  std::string bytes = Record("heap", 2, Variant::kSeriesFixed);
  trace::MemorySource src(bytes);
  trace::TraceReader reader(&src, "mem");
  ASSERT_TRUE(reader.Open().ok());
  trace::TraceHeader h = reader.header();
  h.set_model_version(kModelVersion + 1);
  std::string rewritten;
  trace::StringSink sink(&rewritten);
  trace::TraceWriter writer(&sink, h);
  trace::Event e;
  while (reader.Next(&e)) ASSERT_TRUE(writer.Append(e).ok());
  ASSERT_TRUE(writer.Finish().ok());
  ReplayResult r = ReplayBytes(rewritten);
  EXPECT_EQ(r.outcome, ReplayOutcome::kModelChanged);
  EXPECT_GT(r.events, 0u) << "and still produces results";
}

trace::TraceHeader HeaderOf(const std::string& bytes) {
  trace::MemorySource src(bytes);
  trace::TraceReader reader(&src, "mem");
  EXPECT_TRUE(reader.Open().ok());
  return reader.header();
}

TEST(ReplayTest, ARerunWithoutChangesReportsWhatTheReplayDoes) {
  for (const workload::WorkloadInfo& w : workload::Workloads()) {
    const std::string bytes = Record(w.name, 3, Variant::kSeriesFixed, "noretry", w.wants_pressure);
    ReplayResult replayed = ReplayBytes(bytes);
    ReplayResult rerun = Rerun(HeaderOf(bytes), "mem", {});
    ASSERT_TRUE(rerun.status.ok()) << w.name << ": " << rerun.status;
    EXPECT_EQ(rerun.outcome, ReplayOutcome::kWhatIf);
    rerun.outcome = replayed.outcome;
    EXPECT_EQ(ReportText(rerun), ReportText(replayed)) << w.name;
  }
}

TEST(ReplayTest, ARerunReactsWhereAnOpenReplayCannot) {
  // The game client asks DEV_QUERY for the shader cores and builds its groups
  // from the answer: re-run on the one-core G310 its jobs run, while the
  // recorded G610 core masks replayed open-loop make GROUP_CREATE fail there.
  const std::string bytes = Record("game", 3, Variant::kSeriesFixed);
  ReplayOptions opts;
  opts.what_if = W({"profile=g310"});
  ReplayResult open = ReplayBytes(bytes, opts);
  ReplayResult rerun = Rerun(HeaderOf(bytes), "mem", opts.what_if);
  ASSERT_TRUE(open.status.ok() && rerun.status.ok());
  EXPECT_EQ(open.device.jobs_completed, 0u);
  EXPECT_GT(open.skipped_dependent, 0u);
  EXPECT_EQ(rerun.device.jobs_completed, 3u);
  EXPECT_FALSE(Rerun(HeaderOf(bytes), "mem", W({"granularity=2M"})).status.ok());
}

}  // namespace
}  // namespace faultlab::replay
