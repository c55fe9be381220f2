// Remapper: recorded ids become the replay's; inputs naming an object whose
// creation failed are refused; a what-if that makes creations fail replays
// with its dependents skipped and counted.
#include "engine/replay/remap.h"

#include <gtest/gtest.h>

#include <cstring>

#include "engine/replay/recorder.h"
#include "engine/replay/replayer.h"
#include "engine/trace/io.h"
#include "engine/trace/writer.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"
#include "engine/workload/workload.h"

namespace faultlab::replay {
namespace {

using namespace uapi;  // NOLINT

template <typename T>
std::string Bytes(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}

// Feeds the remapper one recorded creation and what the replay made of it.
void Create(Remapper& m, uint32_t request, const std::string& recorded_out, int live_result,
            const std::string& live_out) {
  trace::Ioctl io;
  io.file = 1;
  io.request = request;
  io.result = 0;
  io.arg_out = recorded_out;
  m.Learn(io, live_result, live_out);
}

TEST(RemapperTest, RewritesHandlesAndRefusesWhatFailed) {
  Remapper m;
  SimUserMemory mem;
  PanthorBoCreate rec{}, live{};
  rec.handle = 1;
  Create(m, kPanthorIoctlBoCreate, Bytes(rec), -12, Bytes(live));  // failed here
  rec.handle = 2;
  live.handle = 1;
  Create(m, kPanthorIoctlBoCreate, Bytes(rec), 0, Bytes(live));  // got handle 1 here

  trace::Ioctl close;
  close.file = 1;
  close.request = kDrmIoctlGemClose;
  DrmGemClose c{2, 0};
  std::string arg = Bytes(c);
  ASSERT_TRUE(m.Rewrite(close, &arg, mem));
  std::memcpy(&c, arg.data(), sizeof(c));
  EXPECT_EQ(c.handle, 1u);
  EXPECT_EQ(m.remapped(), 1u);

  c.handle = 1;  // the BO whose creation failed
  arg = Bytes(c);
  EXPECT_FALSE(m.Rewrite(close, &arg, mem));

  c.handle = 77;  // never created by the recording: passes through
  arg = Bytes(c);
  ASSERT_TRUE(m.Rewrite(close, &arg, mem));
  std::memcpy(&c, arg.data(), sizeof(c));
  EXPECT_EQ(c.handle, 77u);

  // Another file's handle 2 is another object.
  close.file = 2;
  c.handle = 2;
  arg = Bytes(c);
  ASSERT_TRUE(m.Rewrite(close, &arg, mem));
  std::memcpy(&c, arg.data(), sizeof(c));
  EXPECT_EQ(c.handle, 2u);
}

TEST(RemapperTest, VmBindOpsNameTheirBosInUserMemory) {
  Remapper m;
  SimUserMemory mem;
  PanthorVmCreate vrec{}, vlive{};
  vrec.id = 1;
  vlive.id = 1;
  Create(m, kPanthorIoctlVmCreate, Bytes(vrec), 0, Bytes(vlive));
  PanthorBoCreate rec{}, live{};
  rec.handle = 5;
  live.handle = 3;
  Create(m, kPanthorIoctlBoCreate, Bytes(rec), 0, Bytes(live));
  rec.handle = 6;
  Create(m, kPanthorIoctlBoCreate, Bytes(rec), -12, Bytes(live));

  const uint64_t ops = mem.Alloc(2 * sizeof(PanthorVmBindOp));
  PanthorVmBindOp op{};
  op.flags = kPanthorVmBindOpTypeMap;
  op.bo_handle = 5;
  mem.Put(ops, op);
  op.flags = kPanthorVmBindOpTypeUnmap;
  op.bo_handle = 6;  // unmaps name no BO: left alone
  mem.Put(ops + sizeof(op), op);
  PanthorVmBind bind{1, 0, {sizeof(PanthorVmBindOp), 2, ops}};
  trace::Ioctl io;
  io.file = 1;
  io.request = kPanthorIoctlVmBind;
  std::string arg = Bytes(bind);
  ASSERT_TRUE(m.Rewrite(io, &arg, mem));
  EXPECT_EQ(mem.Get<PanthorVmBindOp>(ops).bo_handle, 3u);
  EXPECT_EQ(mem.Get<PanthorVmBindOp>(ops + sizeof(op)).bo_handle, 6u);

  op.flags = kPanthorVmBindOpTypeMap;  // a map of the BO that failed
  mem.Put(ops + sizeof(op), op);
  EXPECT_FALSE(m.Rewrite(io, &arg, mem));
}

std::string Record(const std::string& workload, uint32_t frames) {
  dev::DeviceConfig cfg;
  cfg.profile = *profiles::LoadProfile("g610");
  cfg.seed = 3;
  absl::StatusOr<Recording> r =
      RecordWorkload(cfg, {workload, 3, frames}, "test", std::string(16, 'r'));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->bytes : "";
}

ReplayResult ReplayWhatIf(const std::string& bytes, const std::string& key_value) {
  ReplayOptions opts;
  EXPECT_TRUE(ParseWhatIfArg(key_value, &opts.what_if).ok());
  return Replay(
      [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
        return std::make_unique<trace::MemorySource>(bytes);
      },
      "mem", opts);
}

TEST(RemapperTest, AGroupTheProfileCannotHostSkipsItsJobs) {
  // game's groups ask for the G610's shader cores; the G310 has one core, so
  // GROUP_CREATE fails there and every job on the group is skipped.
  const std::string bytes = Record("game", 3);
  ReplayResult same = ReplayWhatIf(bytes, "policy=noretry");
  ASSERT_TRUE(same.status.ok()) << same.status;
  EXPECT_EQ(same.skipped_dependent, 0u);
  EXPECT_EQ(same.device.jobs_completed, 3u);

  ReplayResult r = ReplayWhatIf(bytes, "profile=g310");
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.outcome, ReplayOutcome::kWhatIf);
  EXPECT_GE(r.skipped_dependent, 3u);  // at least the three frames' jobs
  EXPECT_EQ(r.device.jobs_completed, 0u);
  EXPECT_NE(ReportText(r).find("skipped_dependent: "), std::string::npos);
}

}  // namespace
}  // namespace faultlab::replay
