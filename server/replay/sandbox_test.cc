// The sandbox (sandbox.h) against a worker that misbehaves every way it
// can, and the real worker on a real trace: each misbehaviour ends as an
// `error` with its reason, promptly; StopAll() ends a running one as
// "stopped".
#include "server/replay/sandbox.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "engine/replay/recorder.h"
#include "engine/trace/io.h"

namespace faultlab::server {
namespace {

constexpr char kBadWorker[] = "server/sandbox_test_worker";  // in the runfiles

SandboxOutcome RunAs(const std::string& behaviour, SandboxPolicy policy = {},
                     const std::string& trace = "/dev/null") {
  Sandbox box(kBadWorker, policy);
  SandboxJob job;
  job.trace_path = trace;
  job.name = behaviour;
  return box.Run(job, nullptr, nullptr);
}

double Seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(SandboxTest, AWorkerThatAnswersIsItsAnswer) {
  SandboxOutcome o = RunAs("ok");
  EXPECT_EQ(o.outcome, "identical");
  EXPECT_EQ(o.report, "outcome: identical\n");
  EXPECT_EQ(o.error_reason, "");
}

TEST(SandboxTest, ACrashIsAnErrorWithItsLastWords) {
  SandboxOutcome o = RunAs("crash");
  EXPECT_EQ(o.outcome, "error");
  EXPECT_EQ(o.error_reason, "crashed");
  EXPECT_NE(o.report.find("signal 6"), std::string::npos) << o.report;
  EXPECT_NE(o.report.find("CHECK failed: frame 7 freed twice"), std::string::npos) << o.report;
}

TEST(SandboxTest, MemoryCpuAndTimeLimitsEndAWorker) {
  SandboxPolicy small;
  small.rss_bytes = 128 << 20;
  SandboxOutcome o = RunAs("grow", small);
  EXPECT_EQ(o.error_reason, "memory_limit") << o.report;
  EXPECT_NE(o.report.find("MiB resident (limit 128 MiB)"), std::string::npos) << o.report;

  o = RunAs("grow-shmem", small);  // a memfd is the worker's own memory too
  EXPECT_EQ(o.error_reason, "memory_limit") << o.report;

  SandboxPolicy quick;
  quick.cpu_base_seconds = 1;
  double took = Seconds([&] { o = RunAs("spin", quick); });
  EXPECT_EQ(o.error_reason, "cpu_limit") << o.report;
  EXPECT_LT(took, 10);
  took = Seconds([&] { o = RunAs("sleep", quick); });  // no CPU used: the wall limit, 2 s
  EXPECT_EQ(o.error_reason, "timeout") << o.report;
  EXPECT_LT(took, 10);
}

TEST(SandboxTest, TheTraceAWorkerMapsIsNotItsMemory) {
  // 256 MiB of trace read through a mapping: page-cache pages, past a
  // 128 MiB limit on the worker's own memory. (A sparse file: nothing is
  // written to disk, reading its holes still fills the page cache.)
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/big.fltrace";
  const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 256 << 20), 0);
  close(fd);
  SandboxPolicy small;
  small.rss_bytes = 128 << 20;
  SandboxOutcome o = RunAs("map-trace", small, path);
  EXPECT_EQ(o.outcome, "identical") << o.error_reason << ": " << o.report;
  unlink(path.c_str());
}

TEST(SandboxTest, AWorkerThatBreaksTheProtocolIsEnded) {
  SandboxOutcome o = RunAs("garbage");
  EXPECT_EQ(o.error_reason, "crashed");
  EXPECT_NE(o.report.find("broke the protocol"), std::string::npos) << o.report;
}

TEST(SandboxTest, StopAllEndsARunningWorkerAsStopped) {
  Sandbox box(kBadWorker, SandboxPolicy{});
  SandboxJob job;
  job.trace_path = "/dev/null";
  job.name = "sleep";
  SandboxOutcome o;
  std::thread t([&] { o = box.Run(job, nullptr, nullptr); });
  std::this_thread::sleep_for(
      std::chrono::milliseconds(200));  // let it start; either way it ends "stopped"
  const double took = Seconds([&] {
    box.StopAll();
    t.join();
  });
  EXPECT_EQ(o.error_reason, "stopped");
  EXPECT_LT(took, 2);
  EXPECT_EQ(box.Run(job, nullptr, nullptr).error_reason, "stopped")
      << "after StopAll, nothing starts";
}

TEST(SandboxTest, TheRealWorkerReplaysATraceAndReportsDamage) {
  dev::DeviceConfig cfg;
  cfg.profile = *profiles::LoadProfile("g610");
  absl::StatusOr<replay::Recording> r =
      replay::RecordWorkload(cfg, {"compute", 1, 1}, "test", std::string(16, 's'));
  ASSERT_TRUE(r.ok()) << r.status();
  const char* base = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(base ? base : "/tmp") + "/sandbox.fltrace";
  {
    auto sink = trace::FileSink::Open(path);
    ASSERT_TRUE(sink.ok());
    ASSERT_TRUE((*sink)->Write(r->bytes).ok());
    ASSERT_TRUE((*sink)->Close().ok());
  }
  Sandbox box("server/faultlab-replay-worker", SandboxPolicy{});
  SandboxJob job;
  job.trace_path = path;
  job.bytes = r->bytes.size();
  job.name = "whole";
  uint64_t progress = 0;
  SandboxOutcome o = box.Run(
      job, [&](uint64_t n) { progress = n; }, nullptr);
  EXPECT_EQ(o.outcome, "identical") << o.report;
  uint64_t faults = 0;
  for (uint64_t n : o.tally.faults) faults += n;
  EXPECT_GT(faults, 0u) << "the tally came back";
  job.bytes = r->bytes.size() / 2;  // the stored part of an interrupted upload
  job.name = "half";
  o = box.Run(job, nullptr, nullptr);
  EXPECT_EQ(o.outcome, "error");
  EXPECT_EQ(o.error_reason, "damaged") << o.report;
  EXPECT_NE(o.report.find("half: offset "), std::string::npos) << o.report;
}

}  // namespace
}  // namespace faultlab::server
