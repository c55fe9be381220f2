// Each stage of a replay on its own: normalise, rewrite, apply, check.
#include <gtest/gtest.h>

#include <cstring>

#include "engine/dev/cs_words.h"
#include "engine/dev/test_util.h"
#include "engine/replay/apply.h"
#include "engine/replay/check.h"
#include "engine/replay/normalise.h"
#include "engine/replay/replayer.h"
#include "engine/replay/rewrite.h"
#include "engine/trace/io.h"
#include "engine/trace/writer.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::replay {
namespace {

using namespace uapi;  // NOLINT

template <typename T>
std::string Bytes(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}

trace::TraceHeader BoardHeader(const char* driver_version) {
  trace::TraceHeader h;
  h.set_capture_source(trace::CAPTURE_SOURCE_BOARD);
  trace::ConfigEntry* e = h.add_config();
  e->set_key("driver_version");
  e->set_value(driver_version);
  return h;
}

trace::Event IoctlEvent(uint32_t request, int result) {
  trace::Event e;
  e.kind = trace::EVENT_IOCTL;
  e.ioctl.file = 1;
  e.ioctl.request = request;
  e.ioctl.result = result;
  return e;
}

TEST(NormaliseTest, InputsOutputsAndWhatTheRecordingSupplies) {
  const Normaliser twin{trace::TraceHeader(), Variant::kSeriesFixed};
  EXPECT_FALSE(twin.board());
  EXPECT_EQ(twin.RoleOf(IoctlEvent(kDrmIoctlSyncobjWait, -kETIME)), Normaliser::Role::kInput);
  trace::Event fault;
  fault.kind = trace::EVENT_MMU_FAULT;
  EXPECT_EQ(twin.RoleOf(fault), Normaliser::Role::kOutput);
  EXPECT_TRUE(twin.Observable(trace::EVENT_MMU_FAULT));

  const Normaliser board(BoardHeader("1.3.0"), Variant::kSeriesFixed);
  EXPECT_TRUE(board.board());
  EXPECT_EQ(board.RoleOf(IoctlEvent(kDrmIoctlSyncobjWait, -kETIME)),
            Normaliser::Role::kTakenFromRecording);
  EXPECT_EQ(board.RoleOf(IoctlEvent(0xc02864c3, -kETIME)), Normaliser::Role::kTakenFromRecording)
      << "today's 40-byte SYNCOBJ_WAIT too";
  EXPECT_EQ(board.RoleOf(IoctlEvent(kDrmIoctlSyncobjWait, 0)), Normaliser::Role::kInput);
  EXPECT_FALSE(board.Observable(trace::EVENT_MMU_FAULT));
  EXPECT_TRUE(board.Observable(trace::EVENT_FILE));
}

TEST(NormaliseTest, LegacyFileMarkers) {
  trace::Event e;
  e.kind = trace::EVENT_MARKER;
  e.marker.type = trace::MARKER_NOTE;
  trace::FileOp op;
  e.marker.label = "open:3:primary";
  ASSERT_TRUE(Normaliser::LegacyFileOp(e, &op));
  EXPECT_EQ(op.file, 3u);
  EXPECT_EQ(op.node, trace::NODE_PRIMARY);
  EXPECT_FALSE(op.close);
  e.marker.label = "close:3";
  ASSERT_TRUE(Normaliser::LegacyFileOp(e, &op));
  EXPECT_TRUE(op.close);
  for (const char* other :
       {"end", "open:x:render", "kernel_log:/dev/kmsg: 0 faults", "close:3:4"}) {
    e.marker.label = other;
    EXPECT_FALSE(Normaliser::LegacyFileOp(e, &op)) << other;
  }
}

TEST(NormaliseTest, WbMmapIsAPlainBoFromDriver17On) {
  PanthorBoCreate bc{4096, kPanthorBoAllocOnFault, 0, 0, 0};
  std::string arg = Bytes(bc);
  Normaliser(BoardHeader("1.6.0"), Variant::kSeriesFixed)
      .NormaliseArgIn(kPanthorIoctlBoCreate, &arg);
  EXPECT_EQ(arg, Bytes(bc)) << "before 1.7 bit 1 is the series' flag";
  const Normaliser n17(BoardHeader("1.7.0"), Variant::kSeriesFixed);
  n17.NormaliseArgIn(kPanthorIoctlBoCreate, &arg);
  PanthorBoCreate got;
  std::memcpy(&got, arg.data(), sizeof(got));
  EXPECT_EQ(got.flags, 0u);
  std::string out = Bytes(bc);
  EXPECT_TRUE(n17.NormaliseArgOut(kPanthorIoctlBoCreate, &out));
  bc.alloc_on_fault_granularity = 4096;  // with a granularity it asked for alloc-on-fault
  arg = Bytes(bc);
  n17.NormaliseArgIn(kPanthorIoctlBoCreate, &arg);
  EXPECT_EQ(arg, Bytes(bc));
  // The mainline variant has WB_MMAP itself: nothing to clear.
  bc.alloc_on_fault_granularity = 0;
  arg = Bytes(bc);
  const Normaliser mainline(BoardHeader("1.7.0"), Variant::kMainline);
  mainline.NormaliseArgIn(kPanthorIoctlBoCreate, &arg);
  EXPECT_EQ(arg, Bytes(bc));
  EXPECT_FALSE(mainline.NormaliseArgOut(kPanthorIoctlBoCreate, &arg));
}

TEST(RewriteTest, GranularityIsClampedToTheBo) {
  WhatIf w;
  w.granularity_bytes = 2 << 20;
  Rewriter r(w);
  SimUserMemory mem;
  trace::Ioctl io = IoctlEvent(kPanthorIoctlBoCreate, 0).ioctl;
  PanthorBoCreate small{64 * 1024, kPanthorBoAllocOnFault, 0, 0, 4096};
  std::string arg = Bytes(small);
  ASSERT_TRUE(r.Ioctl(io, &arg, mem));
  PanthorBoCreate got;
  std::memcpy(&got, arg.data(), sizeof(got));
  EXPECT_EQ(got.alloc_on_fault_granularity, 64u * 1024) << "no larger than the BO";
  EXPECT_EQ(r.granularity_clamped(), 1u);
  PanthorBoCreate plain{8 << 20, 0, 0, 0, 0};
  arg = Bytes(plain);
  ASSERT_TRUE(r.Ioctl(io, &arg, mem));
  EXPECT_EQ(arg, Bytes(plain)) << "a regular BO keeps its flags";
}

TEST(RewriteTest, AofMakesTheSelectedPlainBosAllocOnFault) {
  WhatIf w;
  w.aof = *ParseAofSelector("size>=1M");
  w.aof_granularity_bytes = 64 * 1024;
  Rewriter r(w);
  SimUserMemory mem;
  trace::Ioctl io = IoctlEvent(kPanthorIoctlBoCreate, 0).ioctl;
  auto rewrite = [&](PanthorBoCreate bc) {
    std::string arg = Bytes(bc);
    EXPECT_TRUE(r.Ioctl(io, &arg, mem));
    std::memcpy(&bc, arg.data(), sizeof(bc));
    return bc;
  };
  PanthorBoCreate big = rewrite({4 << 20, 0, 0, 0, 0});
  EXPECT_EQ(big.flags, kPanthorBoAllocOnFault);
  EXPECT_EQ(big.alloc_on_fault_granularity, 64u * 1024);
  PanthorBoCreate odd = rewrite({(1 << 20) + 12 * 1024, kPanthorBoNoMmap, 0, 0, 0});
  EXPECT_EQ(odd.flags, kPanthorBoNoMmap | kPanthorBoAllocOnFault);
  EXPECT_EQ(odd.alloc_on_fault_granularity, 4096u) << "a granule the size is a whole number of";
  PanthorBoCreate small = rewrite({64 * 1024, 0, 0, 0, 0});
  EXPECT_EQ(small.flags, 0u) << "not selected";
  EXPECT_EQ(r.aof_converted_bos(), 2u);
  EXPECT_EQ(r.aof_converted_bytes(), (4u << 20) + (1u << 20) + 12 * 1024);
  // Under a page, no granule fits: it stays plain.
  WhatIf all;
  all.aof = *ParseAofSelector("all");
  Rewriter r2(all);
  std::string arg = Bytes(PanthorBoCreate{1280, 0, 0, 0, 0});
  ASSERT_TRUE(r2.Ioctl(io, &arg, mem));
  EXPECT_EQ(arg, Bytes(PanthorBoCreate{1280, 0, 0, 0, 0}));
  EXPECT_EQ(r2.aof_converted_bos(), 0u);
}

// Apply + check: a two-event recording made by hand, replayed on a device.
class ApplyCheckTest : public ::testing::Test {
 protected:
  std::string Record(const std::vector<trace::Event>& events, const trace::TraceHeader& h) {
    std::string bytes;
    trace::StringSink sink(&bytes);
    trace::TraceWriter w(&sink, h);
    for (const trace::Event& e : events) EXPECT_TRUE(w.Append(e).ok());
    EXPECT_TRUE(w.Finish().ok());
    return bytes;
  }
};

TEST_F(ApplyCheckTest, AFileOpenAndAnIoctlReplayAndCompare) {
  dev::Device recorder(DefaultConfig());
  struct Keep : events::Observer {
    trace::EventArena arena;
    std::vector<trace::Event> events;
    void OnEvent(const trace::Event& e) override { events.push_back(arena.Own(e)); }
  } keep;
  recorder.set_observer(&keep);
  SimUserMemory mem;
  dev::File* f = recorder.Open(dev::NodeType::kRender, &mem);
  const uint64_t at = mem.Alloc(sizeof(PanthorVmCreate));
  mem.Put(at, PanthorVmCreate{});
  ASSERT_EQ(recorder.Ioctl(f, kPanthorIoctlVmCreate, at), 0);
  recorder.set_observer(nullptr);
  ASSERT_EQ(keep.events.size(), 2u);
  EXPECT_EQ(keep.events[0].kind, trace::EVENT_FILE);

  trace::TraceHeader h = MakeHeader(DefaultConfig(), "hand", "b", std::string(16, 'h'), 0);
  const std::string bytes = Record(keep.events, h);
  trace::MemorySource src(bytes);
  trace::TraceReader expected(&src, "mem");
  ASSERT_TRUE(expected.Open().ok());
  const Normaliser norm(h, Variant::kSeriesFixed);
  ReplayOptions opts;
  ReplayResult r;
  dev::Device device(DefaultConfig());
  Checker check(&expected, &norm, opts, &r, /*compare=*/true);
  device.set_observer(&check);
  Applier apply(&device, &norm, nullptr, &r);
  ASSERT_TRUE(apply.File(keep.events[0].file_op, /*legacy=*/false).ok());
  ASSERT_TRUE(apply.Ioctl(keep.events[1].ioctl).ok());
  check.CheckEnd();
  device.set_observer(nullptr);
  EXPECT_EQ(r.divergence_count, 0u);
  EXPECT_EQ(r.events, 2u);

  // An ioctl on a file the trace never opened is damaged input.
  trace::Ioctl stray = keep.events[1].ioctl;
  stray.file = 9;
  EXPECT_EQ(apply.Ioctl(stray).code(), absl::StatusCode::kDataLoss);
}

TEST_F(ApplyCheckTest, BoardRulesTakeOutputsAndMaskOffsets) {
  // A board's DEV_QUERY answered other registers, and its mmap offset is
  // another: both still compare equal; a different errno does not.
  trace::TraceHeader h = BoardHeader("1.3.0");
  trace::Event want = IoctlEvent(kPanthorIoctlBoMmapOffset, 0);
  PanthorBoMmapOffset board_off{1, 0, 0x123450000}, twin_off{1, 0, 0x100000000};
  const std::string board_bytes = Bytes(board_off), twin_bytes = Bytes(twin_off);
  want.ioctl.arg_out = board_bytes;
  trace::Event query = IoctlEvent(kPanthorIoctlDevQuery, 0);
  const std::string records = Record({want, query, want}, h);
  trace::MemorySource src(records);
  trace::TraceReader expected(&src, "mem");
  ASSERT_TRUE(expected.Open().ok());
  const Normaliser norm(h, Variant::kSeriesFixed);
  ReplayOptions opts;
  opts.keep_going = true;
  ReplayResult r;
  Checker check(&expected, &norm, opts, &r, true);
  trace::Event got = want;
  got.ioctl.arg_out = twin_bytes;
  check.OnEvent(got);
  trace::Event got_query = IoctlEvent(kPanthorIoctlDevQuery, 0);
  got_query.ioctl.arg_out = "different registers";
  check.OnEvent(got_query);
  EXPECT_EQ(r.divergence_count, 0u);
  EXPECT_EQ(r.injected, 1u);
  got.ioctl.result = -kENOENT;
  check.OnEvent(got);
  EXPECT_EQ(r.divergence_count, 1u);
}

}  // namespace
}  // namespace faultlab::replay

namespace faultlab::replay {
namespace {

// A stream storing into a plain 2 MiB BO, recorded by hand; replayed with
// aof=all its BOs are allocated on fault and the stream's accesses fault.
TEST_F(ApplyCheckTest, AofTurnsPlainBosIntoFaultsAndNeedsTheSeries) {
  struct Keep : events::Observer {
    trace::EventArena arena;
    std::vector<trace::Event> events;
    void OnEvent(const trace::Event& e) override { events.push_back(arena.Own(e)); }
  } keep;
  constexpr uint64_t kCs = 0x1000'0000, kBuf = 0x2000'0000;
  {
    dev::testing::TestDevice t(dev::testing::Config(), dev::NodeType::kRender, &keep);
    const uint32_t vm = t.CreateVm(), cs = t.CreateBo(64 * 1024), buf = t.CreateBo(2 << 20);
    ASSERT_EQ(t.Bind(vm, {dev::testing::TestDevice::MapOp(cs, 0, kCs, 64 * 1024),
                          dev::testing::TestDevice::MapOp(buf, 0, kBuf, 2 << 20)}),
              0);
    const uint32_t group = t.CreateGroup(vm);
    const char label[] = "big buffer";
    PanthorBoSetLabel sl{buf, 0, t.Place(label, sizeof(label))};
    ASSERT_EQ(t.Call(kPanthorIoctlBoSetLabel, &sl), 0);
    using namespace dev::testing::cs;  // NOLINT
    const std::vector<uint64_t> words = {Move48(2, kBuf), Move32(10, 7), Store(10, 2, 1, 0),
                                         Move48(2, kBuf + (1 << 20)), Store(10, 2, 1, 0)};
    // The CPU writes the stream (a noted write, as through a mapping).
    t.dev.WriteGpuVa(
        t.file, group, kCs,
        absl::string_view(reinterpret_cast<const char*>(words.data()), words.size() * 8),
        /*note=*/true);
    DrmSyncobjCreate c{0, 0};
    ASSERT_EQ(t.Call(kDrmIoctlSyncobjCreate, &c), 0);
    PanthorSyncOp sig{kPanthorSyncOpSignal, c.handle, 0};
    PanthorQueueSubmit qs{0, static_cast<uint32_t>(words.size() * 8),     kCs, 0,
                          0, {sizeof(sig), 1, t.Place(&sig, sizeof(sig))}};
    PanthorGroupSubmit gs{group, 0, {sizeof(qs), 1, t.Place(&qs, sizeof(qs))}};
    ASSERT_EQ(t.Call(kPanthorIoctlGroupSubmit, &gs), 0);
    DrmSyncobjWait w{t.Place(&c.handle, 4), INT64_MAX, 1, 0, 0, 0};
    ASSERT_EQ(t.Call(kDrmIoctlSyncobjWait, &w), 0);  // the job runs, then the wait returns
    t.dev.set_observer(nullptr);
  }
  const std::string bytes =
      Record(keep.events, MakeHeader(DefaultConfig(), "hand", "b", std::string(16, 'a'), 0));
  auto replay = [&](const std::vector<std::string>& what_if) {
    ReplayOptions o;
    o.what_if = *ParseWhatIfArgs(what_if);
    return Replay(
        [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
          return std::unique_ptr<trace::ByteSource>(new trace::MemorySource(bytes));
        },
        "hand", o);
  };
  ReplayResult plain = replay({});
  ASSERT_TRUE(plain.status.ok()) << plain.status;
  EXPECT_EQ(plain.outcome, ReplayOutcome::kIdentical);
  EXPECT_EQ(plain.device.faults, 0u);
  ReplayResult aof = replay({"aof=all"});
  ASSERT_TRUE(aof.status.ok()) << aof.status;
  EXPECT_EQ(aof.aof_converted_bos, 2u);
  EXPECT_EQ(aof.aof_converted_bytes, (2u << 20) + 64 * 1024);
  EXPECT_EQ(aof.device.faults, 3u) << "the stream's page, then each store's";
  EXPECT_EQ(aof.device.jobs_failed, 0u);
  EXPECT_NE(ReportText(aof).find("aof_converted_bos: 2\n"), std::string::npos);
  ReplayResult big = replay({"aof=size>=1M", "aof_granularity=2M"});
  ASSERT_TRUE(big.status.ok()) << big.status;
  EXPECT_EQ(big.aof_converted_bos, 1u);
  EXPECT_EQ(big.device.faults, 1u) << "one 2 MiB granule for both stores";
  ReplayResult labelled = replay({"aof=label=big*"});
  ASSERT_TRUE(labelled.status.ok()) << labelled.status;
  EXPECT_EQ(labelled.aof_converted_bos, 1u) << "the BO labelled after its creation";
  EXPECT_EQ(labelled.device.faults, 2u);
  EXPECT_EQ(replay({"aof=label=small"}).aof_converted_bos, 0u);
  ReplayResult mainline = replay({"aof=all", "variant=mainline"});
  EXPECT_FALSE(mainline.status.ok());
  EXPECT_NE(mainline.status.message().find("variant mainline"), absl::string_view::npos);
}

}  // namespace
}  // namespace faultlab::replay
