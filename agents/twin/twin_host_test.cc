// The live device (TwinHost::StartLive, docs/shim.md "The live device"): the
// GPU runs in host time while the program polls a mapping, sleeps or asks
// for a group's state — no wait drives it: a polling program sees a store, a
// faulting submit turns the group FATAL_FAULT, a stalled job times out
// during a sleep, a CPU write releases a SYNC_WAIT without a submit, the GPU
// timestamp follows host time. Every run's trace (with the device's steps)
// replays identically, twice.
#include "agents/twin/twin_host.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/dev/cs_words.h"
#include "engine/dev/test_util.h"
#include "engine/replay/config.h"
#include "engine/replay/recorder.h"
#include "engine/replay/replayer.h"
#include "engine/trace/io.h"
#include "engine/trace/writer.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"

namespace faultlab::twin {
namespace {

using namespace uapi;              // NOLINT: the ABI's names read best unqualified
using namespace dev::testing::cs;  // NOLINT: so do the stream encoders

constexpr uint64_t kCsVa = 0x1000'0000, kDataVa = 0x2000'0000, kSize = 64 * 1024;
constexpr uint64_t kJobTimeoutMs = 200;  // a test's short one

class LiveTest : public ::testing::Test {
 protected:
  LiveTest() : config_(Config()), host_(config_) {
    writer_ = std::make_unique<trace::TraceWriter>(
        &sink_, replay::MakeHeader(config_, "twin_host_test", "test", std::string(16, 'l'), 0));
    recorder_ = std::make_unique<replay::Recorder>(writer_.get());
    host_.device().set_observer(recorder_.get());
    host_.StartLive();
    {
      std::lock_guard<std::recursive_mutex> lock(host_.mu());
      file_ = host_.Open(dev::NodeType::kRender, &mem_);
    }
    PanthorVmCreate vc{};
    EXPECT_EQ(Call(kPanthorIoctlVmCreate, &vc), 0);
    vm_ = vc.id;
    cs_ = Map(NewBo(kCsVa));
    data_ = Map(NewBo(kDataVa));
    std::vector<PanthorQueueCreate> qs(2, PanthorQueueCreate{0, {0, 0, 0}, 16 * 1024});
    PanthorGroupCreate g{};
    g.queues = {sizeof(PanthorQueueCreate), 2, reinterpret_cast<uint64_t>(qs.data())};
    g.priority = kPanthorGroupPriorityMedium;
    g.compute_core_mask = g.fragment_core_mask = config_.profile.gpu_info.shader_present;
    g.tiler_core_mask = 1;
    g.max_compute_cores = g.max_fragment_cores = g.max_tiler_cores = 1;
    g.vm_id = vm_;
    EXPECT_EQ(Call(kPanthorIoctlGroupCreate, &g), 0);
    group_ = g.group_handle;
  }

  static dev::DeviceConfig Config() {
    dev::DeviceConfig c = dev::testing::Config();
    c.profile.job_timeout_ns = kJobTimeoutMs * 1'000'000;
    return c;
  }

  template <typename T>
  int Call(uint32_t request, T* arg) {
    std::unique_lock<std::recursive_mutex> lock(host_.mu());
    return host_.Ioctl(lock, file_, mem_, request, reinterpret_cast<uint64_t>(arg));
  }

  // A 64 KiB BO bound at `va`; its mmap offset.
  uint64_t NewBo(uint64_t va) {
    PanthorBoCreate bc{};
    bc.size = kSize;
    EXPECT_EQ(Call(kPanthorIoctlBoCreate, &bc), 0);
    PanthorVmBindOp op{};
    op.flags = kPanthorVmBindOpTypeMap;
    op.bo_handle = bc.handle;
    op.va = va;
    op.size = kSize;
    PanthorVmBind b{vm_, 0, {sizeof(op), 1, reinterpret_cast<uint64_t>(&op)}};
    EXPECT_EQ(Call(kPanthorIoctlVmBind, &b), 0);
    PanthorBoMmapOffset mo{bc.handle, 0, 0};
    EXPECT_EQ(Call(kPanthorIoctlBoMmapOffset, &mo), 0);
    return mo.offset;
  }

  // mmap() as the shim makes it: the device's content file at the BO's bytes.
  volatile uint32_t* Map(uint64_t offset) {
    std::lock_guard<std::recursive_mutex> lock(host_.mu());
    const int prot = PROT_READ | PROT_WRITE;
    EXPECT_EQ(host_.Mmap(file_, offset, kSize, prot, true), 0);
    uint64_t at = 0;
    const int fd = host_.MapSource(file_, offset, &at);
    void* p = mmap(nullptr, kSize, prot, MAP_SHARED, fd, static_cast<off_t>(at));
    EXPECT_NE(p, MAP_FAILED);
    host_.Track(file_, offset, kSize, prot, true, static_cast<char*>(p), true);
    return static_cast<volatile uint32_t*>(p);
  }

  // The CPU writes `words` at `at` of the CS BO and submits them to `queue`.
  int Submit(uint32_t queue, uint64_t at, const std::vector<uint64_t>& words) {
    for (size_t i = 0; i < words.size(); ++i) {
      cs_[(at + 8 * i) / 4] = static_cast<uint32_t>(words[i]);
      cs_[(at + 8 * i) / 4 + 1] = static_cast<uint32_t>(words[i] >> 32);
    }
    PanthorQueueSubmit qs{queue, static_cast<uint32_t>(8 * words.size()), kCsVa + at, 0, 0, {}};
    PanthorGroupSubmit gs{group_, 0, {sizeof(qs), 1, reinterpret_cast<uint64_t>(&qs)}};
    return Call(kPanthorIoctlGroupSubmit, &gs);
  }

  PanthorGroupGetState State() {
    PanthorGroupGetState s{group_, 0, 0, 0};
    EXPECT_EQ(Call(kPanthorIoctlGroupGetState, &s), 0);
    return s;
  }

  // Polls `done` every 100 us for up to 2 s of host time; no call is made.
  template <typename F>
  static bool Within2s(F done) {
    for (int i = 0; i < 20000; ++i) {
      if (done()) return true;
      usleep(100);
    }
    return done();
  }

  // The end of the run as the shim makes it, then the replay of its trace:
  // identical, and the same report twice.
  void ExpectReplaysIdentically() {
    host_.StopLive();
    {
      std::lock_guard<std::recursive_mutex> lock(host_.mu());
      host_.device().RunAll();
      host_.device().EmitMarker(trace::MARKER_NOTE, 0, "end");
      host_.device().set_observer(nullptr);
    }
    ASSERT_TRUE(recorder_->Finish().ok());
    auto replay = [this] {
      return replay::Replay(
          [this]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
            return std::make_unique<trace::MemorySource>(bytes_);
          },
          "live", {});
    };
    const replay::ReplayResult r = replay();
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(r.outcome, replay::ReplayOutcome::kIdentical)
        << (r.divergences.empty() ? ""
                                  : r.divergences[0].expected + "\n vs " + r.divergences[0].got);
    EXPECT_GT(r.summary.count(trace::EVENT_GPU_RUN), 0u) << "the device's steps are in the trace";
    EXPECT_EQ(replay::ReportText(replay()), replay::ReportText(r));
  }

  dev::DeviceConfig config_;
  std::string bytes_;
  trace::StringSink sink_{&bytes_};
  std::unique_ptr<trace::TraceWriter> writer_;
  std::unique_ptr<replay::Recorder> recorder_;
  TwinHost host_;
  ProcessMemory mem_;
  dev::File* file_ = nullptr;
  uint32_t vm_ = 0, group_ = 0;
  volatile uint32_t* cs_ = nullptr;
  volatile uint32_t* data_ = nullptr;
};

TEST_F(LiveTest, APollingProgramSeesTheGpusStore) {
  ASSERT_EQ(Submit(0, 0, {Move48(2, kDataVa + 0x10), Move32(10, 0xfeed), Store(10, 2, 1, 0)}), 0);
  EXPECT_TRUE(Within2s([this] { return data_[0x10 / 4] == 0xfeed; }))
      << "the store lands while the program polls, with no wait";
  ExpectReplaysIdentically();
}

TEST_F(LiveTest, AFaultingSubmitTurnsTheGroupFatalWithoutAWait) {
  ASSERT_EQ(Submit(0, 0, {Move48(2, 0x7f0000000), Move32(10, 1), Store(10, 2, 1, 0)}), 0);
  EXPECT_TRUE(Within2s([this] { return (State().state & kPanthorGroupStateFatalFault) != 0; }));
  ExpectReplaysIdentically();
}

TEST_F(LiveTest, AStalledJobTimesOutWhileTheProgramSleeps) {
  // A SYNC_WAIT nothing releases: the job timeout (kJobTimeoutMs) passes in
  // host time while the program sleeps.
  data_[0x20 / 4] = 0;
  ASSERT_EQ(Submit(0, 0, {Move48(2, kDataVa + 0x20), Move32(10, 0), SyncWait32(10, 2, true)}), 0);
  EXPECT_EQ(State().state, 0u) << "still running";
  usleep(2 * kJobTimeoutMs * 1000);
  EXPECT_EQ(State().state & kPanthorGroupStateTimedout, kPanthorGroupStateTimedout);
  ExpectReplaysIdentically();
}

TEST_F(LiveTest, ACpuWriteReleasesASyncWaitWithoutASubmit) {
  data_[0x30 / 4] = 0;
  ASSERT_EQ(Submit(0, 0,
                   {Move48(2, kDataVa + 0x30), Move32(10, 0), SyncWait32(10, 2, true),
                    Move48(4, kDataVa + 0x40), Move32(11, 0x5ca1ab1e), Store(11, 4, 1, 0)}),
            0);
  usleep(20'000);
  EXPECT_EQ(data_[0x40 / 4], 0u) << "blocked";
  data_[0x30 / 4] = 1;  // the CPU releases it: no call follows
  EXPECT_TRUE(Within2s([this] { return data_[0x40 / 4] == 0x5ca1ab1e; }));
  EXPECT_EQ(State().state, 0u);
  ExpectReplaysIdentically();
}

TEST_F(LiveTest, TheGpuTimestampFollowsHostTime) {
  auto timestamp = [this] {
    PanthorTimestampInfo ts{};
    PanthorDevQuery q{kPanthorDevQueryTimestampInfo, sizeof(ts), reinterpret_cast<uint64_t>(&ts)};
    EXPECT_EQ(Call(kPanthorIoctlDevQuery, &q), 0);
    return std::make_pair(ts.current_timestamp, ts.timestamp_frequency);
  };
  const auto [t0, hz] = timestamp();
  usleep(50'000);
  const uint64_t t1 = timestamp().first;
  EXPECT_GE(t1 - t0, hz * 45 / 1000) << "50 ms of host time: at least 45 ms of ticks";
  ExpectReplaysIdentically();
}

}  // namespace
}  // namespace faultlab::twin
