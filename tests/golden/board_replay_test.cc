// Board traces on the twin (docs/board.md "Replaying board traces"): the
// captured libdrm client (traces/board-drm_client.fltrace, passthrough over
// the loopback kernel) replays identically to its golden report; copies with
// one output changed show what a board replay checks (errno, handles, group
// states, unhandled faults) and what it takes from the recording (DEV_QUERY
// payloads, timings).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>

#include "engine/replay/replayer.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/writer.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"
#include "lib/calibrate/calibrate.h"
#include "tests/golden/golden_files.h"

namespace faultlab {
namespace {

constexpr char kTrace[] = "traces/board-drm_client.fltrace";

replay::ReplayResult ReplayBytes(const std::string& bytes,
                                 const std::vector<std::string>& what_if = {}) {
  replay::ReplayOptions o;
  o.what_if = *replay::ParseWhatIfArgs(what_if);
  return replay::Replay(
      [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
        return std::unique_ptr<trace::ByteSource>(new trace::MemorySource(bytes));
      },
      "board", o);
}

// The trace with `edit` applied to every event; returns the index of the
// first event `edit` changed (it returns true for it).
// drm_panthor_bo_create with flag bit 1 set, from `arg`.
void PanthorBoCreateFlags(absl::string_view arg, std::string* out) {
  out->assign(arg.data(), arg.size());
  uapi::PanthorBoCreate bc;
  ASSERT_GE(out->size(), sizeof(bc));
  memcpy(&bc, out->data(), sizeof(bc));
  bc.flags |= 1u << 1;
  memcpy(out->data(), &bc, sizeof(bc));
}

std::string Edit(const std::function<bool(trace::Event*)>& edit, uint64_t* changed) {
  const std::string bytes = golden::ReadFile(kTrace);
  trace::MemorySource src(bytes);
  trace::TraceReader reader(&src, kTrace);
  EXPECT_TRUE(reader.Open().ok());
  std::string out;
  trace::StringSink sink(&out);
  trace::TraceWriter writer(&sink, reader.header());
  trace::Event e;
  bool first = true;
  while (reader.Next(&e)) {
    if (edit(&e) && first) {
      *changed = reader.event_index();
      first = false;
    }
    if (e.kind == trace::EVENT_KIND_UNSPECIFIED) continue;  // dropped
    EXPECT_TRUE(writer.Append(e).ok());
  }
  EXPECT_TRUE(writer.Finish().ok());
  EXPECT_FALSE(first) << "nothing edited";
  return out;
}

TEST(BoardReplayTest, TheCaptureReplaysIdenticallyToItsGoldenReport) {
  const replay::ReplayResult r = ReplayBytes(golden::ReadFile(kTrace));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.outcome, replay::ReplayOutcome::kIdentical)
      << (r.divergences.empty() ? "" : r.divergences[0].expected + " vs " + r.divergences[0].got);
  EXPECT_TRUE(r.board);
  EXPECT_GT(r.injected, 0u);
  EXPECT_EQ(replay::ReportText(r), golden::ReadFile("traces/board-drm_client.report.txt"));
}

TEST(BoardReplayTest, AGroupStateTheTwinDoesNotReachDiverges) {
  uint64_t at = 0;
  std::string state;
  const std::string t = Edit(
      [&](trace::Event* e) {
        if (e->kind != trace::EVENT_IOCTL || e->ioctl.request != uapi::kPanthorIoctlGroupGetState ||
            !state.empty()) {
          return false;
        }
        state = std::string(e->ioctl.arg_out);
        state[4] ^= 1;  // drm_panthor_group_get_state.state
        e->ioctl.arg_out = state;
        return true;
      },
      &at);
  const replay::ReplayResult r = ReplayBytes(t);
  EXPECT_EQ(r.outcome, replay::ReplayOutcome::kDiverged);
  ASSERT_FALSE(r.divergences.empty());
  EXPECT_NE(r.divergences[0].expected.find("request=0xc010644a"), std::string::npos)
      << r.divergences[0].expected;
}

TEST(BoardReplayTest, AnErrnoTheTwinDoesNotReturnDiverges) {
  uint64_t at = 0;
  bool done = false;
  const std::string t = Edit(
      [&](trace::Event* e) {
        if (done || e->kind != trace::EVENT_IOCTL ||
            e->ioctl.request != uapi::kPanthorIoctlBoCreate || e->ioctl.result != 0) {
          return false;
        }
        e->ioctl.result = -12;  // a board that ran out of memory here
        done = true;
        return true;
      },
      &at);
  const replay::ReplayResult r = ReplayBytes(t);
  EXPECT_EQ(r.outcome, replay::ReplayOutcome::kDiverged);
  ASSERT_FALSE(r.divergences.empty());
  EXPECT_NE(r.divergences[0].expected.find("result=-12"), std::string::npos)
      << r.divergences[0].expected;
}

TEST(BoardReplayTest, DevQueryPayloadsAndTimingsComeFromTheRecording) {
  uint64_t at = 0;
  std::string payload;
  const std::string t = Edit(
      [&](trace::Event* e) {
        if (e->kind != trace::EVENT_IOCTL) return false;
        e->ioctl.duration_ns += 12345;  // another board's timing
        if (e->ioctl.request == uapi::kPanthorIoctlDevQuery && !e->ioctl.user_out.empty() &&
            payload.empty()) {
          payload = std::string(e->ioctl.user_out[0].data);
          payload[0] ^= 0x5a;  // another GPU's registers, another timestamp
          e->ioctl.user_out[0].data = payload;
        }
        return true;
      },
      &at);
  const replay::ReplayResult r = ReplayBytes(t);
  EXPECT_EQ(r.outcome, replay::ReplayOutcome::kIdentical)
      << (r.divergences.empty() ? "" : r.divergences[0].expected + " vs " + r.divergences[0].got);
}

TEST(BoardReplayTest, AnUnhandledFaultMissingFromTheKernelLogDiverges) {
  uint64_t at = 0;
  const std::string t = Edit(
      [&](trace::Event* e) {
        if (e->kind != trace::EVENT_MMU_FAULT) return false;
        e->kind = trace::EVENT_KIND_UNSPECIFIED;  // the kernel log said nothing
        return true;
      },
      &at);
  const replay::ReplayResult r = ReplayBytes(t);
  EXPECT_EQ(r.outcome, replay::ReplayOutcome::kDiverged);
  ASSERT_FALSE(r.divergences.empty());
  EXPECT_NE(r.divergences[0].expected.find("unhandled faults in the board's kernel log: 0"),
            std::string::npos);
  EXPECT_NE(r.divergences[0].got.find(" at 0x7f0000000"), std::string::npos)
      << r.divergences[0].got;
}

TEST(BoardReplayTest, IoctlsOfNewerDriversAndUnmodelledOnesTakeTheRecordedOutcome) {
  // A board on driver 1.7 syncs a BO's caches (BO_SYNC): the twin,
  // replaying on the fixture's series-fixed (driver 1.6), does not model it.
  const std::string bytes = golden::ReadFile(kTrace);
  trace::MemorySource src(bytes);
  trace::TraceReader reader(&src, kTrace);
  ASSERT_TRUE(reader.Open().ok());
  std::string out;
  trace::StringSink sink(&out);
  trace::TraceWriter writer(&sink, reader.header());
  trace::Event e;
  bool inserted = false;
  const std::string sync_arg(16, '\0');
  while (reader.Next(&e)) {
    if (!inserted && e.kind == trace::EVENT_IOCTL &&
        e.ioctl.request == uapi::kPanthorIoctlVmCreate) {
      for (uint32_t request : {uapi::kPanthorIoctlBoSync}) {
        trace::Event x;
        x.kind = trace::EVENT_IOCTL;
        x.virtual_ns = e.virtual_ns;
        x.ioctl.file = e.ioctl.file;
        x.ioctl.request = request;
        x.ioctl.result = 0;
        x.ioctl.arg_in = sync_arg;
        x.ioctl.arg_out = x.ioctl.arg_in;
        ASSERT_TRUE(writer.Append(x).ok());
      }
      inserted = true;
    }
    ASSERT_TRUE(writer.Append(e).ok());
  }
  ASSERT_TRUE(writer.Finish().ok());
  const replay::ReplayResult r = ReplayBytes(out);
  EXPECT_EQ(r.outcome, replay::ReplayOutcome::kIdentical)
      << (r.divergences.empty() ? "" : r.divergences[0].expected + " vs " + r.divergences[0].got);
  EXPECT_EQ(r.not_modelled, 1u);
  EXPECT_NE(replay::ReportText(r).find("not_modelled_ioctls: 1\n"), std::string::npos);
}

// The fixture as a driver `version` kernel would have recorded it, with its
// first plain BO created with flag bit 1 (WB_MMAP from 1.7), to be replayed
// on `variant`.
std::string WithWbMmapBo(const std::string& version, const std::string& variant = "series-fixed") {
  const std::string bytes = golden::ReadFile(kTrace);
  trace::MemorySource src(bytes);
  trace::TraceReader reader(&src, kTrace);
  EXPECT_TRUE(reader.Open().ok());
  trace::TraceHeader h = reader.header();
  h.set_variant(variant);
  for (trace::ConfigEntry& c : *h.mutable_config()) {
    if (c.key() == "driver_version") c.set_value(version);
  }
  std::string out;
  trace::StringSink sink(&out);
  trace::TraceWriter writer(&sink, h);
  trace::Event e;
  bool done = false;
  std::string in, outarg;
  while (reader.Next(&e)) {
    if (!done && e.kind == trace::EVENT_IOCTL && e.ioctl.request == uapi::kPanthorIoctlBoCreate &&
        e.ioctl.result == 0) {
      PanthorBoCreateFlags(e.ioctl.arg_in, &in);
      PanthorBoCreateFlags(e.ioctl.arg_out, &outarg);
      e.ioctl.arg_in = in;
      e.ioctl.arg_out = outarg;
      done = true;
    }
    EXPECT_TRUE(writer.Append(e).ok());
  }
  EXPECT_TRUE(writer.Finish().ok());
  return out;
}

TEST(BoardReplayTest, WbMmapBosOfDriver17AreBosToTheTwin) {
  const replay::ReplayResult r = ReplayBytes(WithWbMmapBo("1.7.0"));
  EXPECT_EQ(r.outcome, replay::ReplayOutcome::kIdentical)
      << (r.divergences.empty() ? "" : r.divergences[0].expected + " vs " + r.divergences[0].got);
  EXPECT_GE(r.not_modelled, 1u);
  // Before 1.7 the same bit is the series' alloc-on-fault flag (here without
  // a granularity: EINVAL on the twin), so the recording diverges there.
  EXPECT_EQ(ReplayBytes(WithWbMmapBo("1.3.0")).outcome, replay::ReplayOutcome::kDiverged);
  // On the mainline variant (driver 1.7) the WB_MMAP BO is modelled as it
  // is — nothing cleared, nothing left out — and this capture, from a kernel
  // with the series, diverges at its first alloc-on-fault BO_CREATE, which
  // a 1.7 kernel refuses (its granularity is a non-zero pad there).
  const replay::ReplayResult m = ReplayBytes(WithWbMmapBo("1.7.0", "mainline"));
  EXPECT_EQ(m.outcome, replay::ReplayOutcome::kDiverged);
  ASSERT_FALSE(m.divergences.empty());
  EXPECT_NE(m.divergences[0].got.find("(PANTHOR_BO_CREATE) result=-22"), std::string::npos)
      << m.divergences[0].got;
  EXPECT_NE(m.divergences[0].expected.find("out=0000200000000000020000000000000002000000"),
            std::string::npos)
      << "the alloc-on-fault BO (granularity 0x20000) is the first to differ: "
      << m.divergences[0].expected;
  EXPECT_EQ(m.not_modelled, 0u);
}

TEST(BoardReplayTest, WhatIfReplaysRunOnIt) {
  const replay::ReplayResult r = ReplayBytes(golden::ReadFile(kTrace), {"policy=dummy-page"});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.outcome, replay::ReplayOutcome::kWhatIf);
  EXPECT_GT(r.device.ioctls, 2000u);
}

// The fault stream's capture (traces/board-storm.fltrace: 3,000 faults on a
// loopback kernel at 1300 per mille of g610's costs) replays to its golden
// report, and calibrating g610 on it finds the slower kernel.
TEST(BoardReplayTest, TheFaultStreamCaptureReplaysAndCalibrates) {
  const replay::ReplayResult r = ReplayBytes(golden::ReadFile("traces/board-storm.fltrace"));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.outcome, replay::ReplayOutcome::kIdentical);
  EXPECT_EQ(r.recorded_stream, 3000u);
  EXPECT_EQ(replay::ReportText(r), golden::ReadFile("traces/board-storm.report.txt"));

  // Its GPU work came from the recorded faults: each given to its job.
  EXPECT_TRUE(r.from_recorded_faults);
  EXPECT_EQ(r.faults_from_recording, 3000u);
  EXPECT_EQ(r.faults_unattributed, 0u);
  EXPECT_EQ(r.summary.faults_by_outcome(trace::FAULT_HANDLED), 3000u);

  const profiles::CostModel g610 = profiles::LoadProfile("g610")->cost;
  absl::StatusOr<calibrate::Calibration> c =
      calibrate::Calibrate(calibrate::Files({"traces/board-storm.fltrace"}), "g610",
                           profiles::ProfileText("g610", "")->first, "board-storm", "this test");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->collected.samples.size(), 3000u);
  auto near = [](const profiles::CostRange& got, const profiles::CostRange& base) {
    const double lo = base.min_ns * 1.3, hi = base.max_ns * 1.3;
    return std::abs(got.min_ns - lo) <= 0.1 * lo && std::abs(got.max_ns - hi) <= 0.1 * hi;
  };
  EXPECT_TRUE(near(c->fit.cost.flush, g610.flush));
  EXPECT_TRUE(near(c->fit.cost.page_alloc, g610.page_alloc));
  EXPECT_TRUE(near(c->fit.cost.workqueue_delay, g610.workqueue_delay));
  EXPECT_GT(c->ks_base, 0.2);
  EXPECT_LT(c->ks_calibrated, 0.05);
  absl::StatusOr<profiles::Profile> written = profiles::ParseProfile(c->profile, "written");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->id, "board-storm");
  EXPECT_EQ(written->cost.flush.min_ns, c->fit.cost.flush.min_ns);
}

// What-ifs of a board's captured work decide its recorded faults' outcomes;
// those that need accesses the board never faulted on say so.
TEST(BoardReplayTest, WhatIfsOfTheFaultStreamDecideItsOutcomes) {
  const std::string t = golden::ReadFile("traces/board-storm.fltrace");
  const replay::ReplayResult tight = ReplayBytes(t, {"budget=64M"});
  ASSERT_TRUE(tight.status.ok()) << tight.status;
  EXPECT_EQ(tight.outcome, replay::ReplayOutcome::kWhatIf);
  EXPECT_GT(tight.summary.faults_by_outcome(trace::FAULT_ENOMEM), 0u);
  EXPECT_GT(tight.device.jobs_failed, 0u);
  EXPECT_LT(tight.summary.faults_by_outcome(trace::FAULT_HANDLED),
            3000u);  // killed jobs' faults not raised
  EXPECT_TRUE(tight.not_derivable.empty());

  const replay::ReplayResult finer = ReplayBytes(t, {"granularity=4K"});
  EXPECT_NE(finer.not_derivable.find("granularity"), std::string::npos);
  const replay::ReplayResult aof = ReplayBytes(t, {"aof=all"});
  EXPECT_NE(aof.not_derivable.find("aof"), std::string::npos);

  // From the twin's footprints instead: the same stores, the same faults.
  replay::ReplayOptions o;
  o.gpu_work = replay::ReplayOptions::GpuWork::kModel;
  const replay::ReplayResult model = replay::Replay(
      [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
        return std::unique_ptr<trace::ByteSource>(new trace::MemorySource(t));
      },
      "board", o);
  EXPECT_FALSE(model.from_recorded_faults);
  EXPECT_EQ(model.summary.faults_by_outcome(trace::FAULT_HANDLED), 3000u);
}

}  // namespace
}  // namespace faultlab
