// Each stage of a replay on its own: normalise, rewrite, apply, check.
#include <gtest/gtest.h>

#include <cstring>

#include "engine/replay/apply.h"
#include "engine/replay/check.h"
#include "engine/replay/normalise.h"
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
