// Golden replays: every workload's trace in traces/ replays identically and
// gives exactly its golden report; a replay in another process gives the same
// bytes. `bazel run //tests/golden:replay_golden_test -- --update` re-records
// the traces (fixed seed, trace id and wall clock) and rewrites the reports.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/base/check.h"
#include "engine/replay/recorder.h"
#include "engine/replay/replayer.h"
#include "engine/trace/io.h"
#include "engine/trace/writer.h"
#include "engine/workload/workload.h"
#include "tests/golden/golden_files.h"

namespace faultlab {
namespace {

bool g_update = false;

using golden::ReadFile;
using golden::SourcePath;
using golden::WriteFile;

std::string RecordGolden(const workload::WorkloadInfo& w) {
  dev::DeviceConfig cfg = replay::DefaultConfig();
  cfg.seed = 1;
  cfg.pressure.enabled = w.wants_pressure;
  if (w.wants_pressure) cfg.budget_bytes = 512ULL << 20;
  absl::StatusOr<replay::Recording> r =
      replay::RecordWorkload(cfg, {w.name, 1, 0}, "golden", std::string(16, 'g'));
  FAULTLAB_CHECK(r.ok(), r.status().message());
  return r->bytes;
}

replay::ReplayResult ReplayFile(const std::string& path) {
  return replay::Replay(
      [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
        auto src = trace::FileSource::Open(path);
        if (!src.ok()) return src.status();
        return std::unique_ptr<trace::ByteSource>(std::move(*src));
      },
      path, {});
}

TEST(ReplayGoldenTest, EveryWorkloadTraceReplaysToItsGoldenReport) {
  for (const workload::WorkloadInfo& w : workload::Workloads()) {
    const std::string trace = "traces/" + w.name + ".fltrace";
    const std::string report = "traces/" + w.name + ".report.txt";
    if (g_update) {
      WriteFile(SourcePath(trace), RecordGolden(w));
      replay::ReplayResult r = ReplayFile(SourcePath(trace));
      ASSERT_EQ(r.outcome, replay::ReplayOutcome::kIdentical) << w.name;
      WriteFile(SourcePath(report), replay::ReportText(r));
      continue;
    }
    replay::ReplayResult r = ReplayFile(trace);
    ASSERT_TRUE(r.status.ok()) << trace << ": " << r.status;
    EXPECT_EQ(r.outcome, replay::ReplayOutcome::kIdentical)
        << trace
        << (r.divergences.empty()
                ? ""
                : ": " + r.divergences[0].expected + " vs " + r.divergences[0].got);
    EXPECT_EQ(replay::ReportText(r), ReadFile(report)) << trace;
  }
  if (g_update) GTEST_SKIP() << "rewrote traces/*.fltrace and traces/*.report.txt";
}

TEST(ReplayGoldenTest, TwoProcessesReplayToTheSameBytes) {
  if (g_update) GTEST_SKIP();
  for (const workload::WorkloadInfo& w : workload::Workloads()) {
    const std::string trace = "traces/" + w.name + ".fltrace";
    const std::string here = replay::ReportJson(ReplayFile(trace));
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      const std::string there = replay::ReportJson(ReplayFile(trace));
      const bool ok =
          write(fds[1], there.data(), there.size()) == static_cast<ssize_t>(there.size());
      _exit(ok ? 0 : 2);
    }
    close(fds[1]);
    std::string child;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0) child.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(child, here) << trace;
  }
}

}  // namespace
}  // namespace faultlab

int main(int argc, char** argv) {
  return faultlab::golden::RunGoldenTests(argc, argv, &faultlab::g_update);
}
