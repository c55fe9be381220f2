// Command streams on the twin: a stream written into a BO stores into an
// alloc-on-fault BO (which faults and gets populated), loops with BRANCH,
// adds and syncs; an unknown instruction makes the queue fatal while the wait
// returns; a store to an unmapped address does the same through the fault
// path; an empty stream is a sync point; SYNC_WAIT blocks a queue until
// another queue's sync or a CPU write seen at a submit releases it, else the
// job times out; every case replays the same way twice (same events, same
// bytes).
#include <gtest/gtest.h>

#include <vector>

#include "engine/dev/cs_lab.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {
namespace {

using namespace uapi;         // NOLINT
using namespace testing::cs;  // NOLINT: the encoders read best unqualified
using testing::kAof;
using testing::kCs;
using testing::kPlainVa;
using testing::Lab;
using testing::SyncLab;

TEST(CsTest, AStoreIntoAnAllocOnFaultBufferFaultsAndLands) {
  Lab lab;
  const uint64_t faults_before = lab.t.dev.stats().faults;
  int wait = -1;
  ASSERT_EQ(lab.Run({Move48(2, kAof + 0x12340), Move32(10, 0xc0ffee), Move32(11, 0xbeef),
                     Store(10, 2, 0b11, 4)},
                    &wait),
            0);
  EXPECT_EQ(wait, 0);
  EXPECT_EQ(lab.Word(lab.aof, 0x12344), 0xc0ffeeu);
  EXPECT_EQ(lab.Word(lab.aof, 0x12348), 0xbeefu);
  EXPECT_EQ(lab.t.dev.stats().faults, faults_before + 1);
  EXPECT_EQ(lab.t.dev.stats().faults_handled, 1u);
  EXPECT_EQ(lab.FatalQueues(), 0u);
  EXPECT_EQ(lab.t.dev.CheckInvariants(), "");
}

TEST(CsTest, LoopsAddsLoadsAndSyncs) {
  Lab lab;
  // r4:r5 = &plain; r6 = 5; loop: store r6 at [r4], r4 += 4, r6 -= 1, branch if r6 > 0.
  // Then load the first word back into r20, SYNC_ADD32 it to plain+0x100, and
  // SYNC_SET64 r22:r23 at plain+0x200.
  std::vector<uint64_t> cs = {Move48(4, kPlainVa),
                              Move32(6, 5),
                              Store(6, 4, 0b1, 0),
                              AddImm64(4, 4, 4),
                              AddImm32(6, 6, -1),
                              Branch(1 /* greater */, 6, -4),
                              Move48(4, kPlainVa),
                              Load(20, 4, 0b1, 0),
                              Move48(8, kPlainVa + 0x100),
                              Move32(30, 7),
                              SyncAdd32(30, 8),
                              SyncAdd32(20, 8),
                              Move48(12, kPlainVa + 0x200),
                              Move48(22, 0x1122334455ull),
                              SyncSet64(22, 12)};
  int wait = -1;
  ASSERT_EQ(lab.Run(cs, &wait), 0);
  EXPECT_EQ(wait, 0);
  for (uint32_t i = 0; i < 5; ++i) EXPECT_EQ(lab.Word(lab.plain, 4 * i), 5 - i) << i;
  EXPECT_EQ(lab.Word(lab.plain, 20), 0u);
  EXPECT_EQ(lab.Word(lab.plain, 0x100), 12u);  // 7 + the loaded 5
  EXPECT_EQ(lab.Word(lab.plain, 0x200), 0x22334455u);
  EXPECT_EQ(lab.Word(lab.plain, 0x204), 0x11u);
  EXPECT_EQ(lab.t.dev.stats().faults, 0u);  // the plain BO is populated from the start
}

TEST(CsTest, AnUnknownInstructionMakesTheQueueFatalAndTheWaitReturns) {
  Lab lab;
  int wait = -1;
  ASSERT_EQ(lab.Run({Move32(1, 1), Op(0x7f, 0)}, &wait), 0);
  EXPECT_EQ(wait, 0);  // the job ended (with an error on its fence)
  EXPECT_EQ(lab.FatalQueues(), 1u);
  EXPECT_NE(lab.t.dev.LookupGroup(lab.t.file, lab.group)->state & kPanthorGroupStateFatalFault, 0u);
  ASSERT_FALSE(lab.t.dev.kernel_log().empty());
  EXPECT_NE(lab.t.dev.kernel_log().back().find("0x49"), std::string::npos)
      << lab.t.dev.kernel_log().back();
  // The group takes no new submits.
  EXPECT_EQ(lab.Run({Op(0, 0)}), -kEINVAL);
}

TEST(CsTest, AStoreToAnUnmappedAddressKillsTheGroupThroughTheFaultPath) {
  Lab lab;
  int wait = -1;
  ASSERT_EQ(lab.Run({Move48(2, 0x7000'0000), Move32(10, 1), Store(10, 2, 1, 0)}, &wait), 0);
  EXPECT_EQ(wait, 0);
  EXPECT_EQ(lab.FatalQueues(), 1u);
  EXPECT_GE(lab.t.dev.stats().faults, 1u);
}

TEST(CsTest, ABranchOutOfTheStreamIsFatal) {
  Lab lab;
  ASSERT_EQ(lab.Run({Branch(6 /* always */, 0, 100)}), 0);
  EXPECT_EQ(lab.FatalQueues(), 1u);
  EXPECT_NE(lab.t.dev.kernel_log().back().find("0x50"), std::string::npos);
}

TEST(CsTest, AnEndlessLoopTimesOut) {
  Lab lab;
  int wait = -1;
  ASSERT_EQ(lab.Run({Branch(6, 0, -1)}, &wait), 0);
  EXPECT_EQ(wait, 0);
  EXPECT_EQ(lab.FatalQueues(), 0u) << "a timeout is no queue's fatal error";
  EXPECT_EQ(lab.t.dev.LookupGroup(lab.t.file, lab.group)->state, kPanthorGroupStateTimedout);
  EXPECT_GE(lab.t.dev.now_ns(), 5'000'000'000u);
}

TEST(CsTest, StoreStateWritesTheTimestampAndTheCycleCount) {
  // GLB_COUNTER_EN (1.6): both count. The timestamp at the arch timer's
  // 24 MHz, the cycles at the top OPP's 1 GHz: 1 cycle per ns.
  Lab lab;
  const std::vector<uint64_t> store = {Move48(2, kPlainVa + 0x200), StoreState(0, 2, 0),
                                       StoreState(1, 2, 8)};
  ASSERT_EQ(lab.Run(store), 0);
  uint64_t ts1 = 0, cy1 = 0, ts2 = 0, cy2 = 0;
  auto bo = lab.t.dev.LookupBo(lab.t.file, lab.plain);
  bo->Read(0x200, &ts1, 8);
  bo->Read(0x208, &cy1, 8);
  EXPECT_GT(ts1, 0u);
  // (the second store runs an access's cost, 100-200 ns, after the first)
  EXPECT_NEAR(static_cast<double>(cy1), static_cast<double>(ts1) * 1e9 / 24e6, 300);
  lab.t.dev.scheduler().RunUntil([] { return false; }, lab.t.dev.now_ns() + 1'000'000);
  ASSERT_EQ(lab.Run(store), 0);
  bo->Read(0x200, &ts2, 8);
  bo->Read(0x208, &cy2, 8);
  EXPECT_GE(ts2 - ts1, 24'000u) << "1 ms later: 24,000 ticks more";
  EXPECT_GE(cy2 - cy1, 1'000'000u);
}

TEST(CsTest, PanvksQueueSetUpRuns) {
  // What panvk's vkCreateDevice submits first (Mesa 25.0.7): SET_SB_ENTRY,
  // REQ_RESOURCE and HEAP_SET keep their state and let the stream go on.
  Lab lab;
  int waited = -1;
  ASSERT_EQ(lab.Run({Move48(0x5a, kPlainVa), Op(23, 0x21), Op(34, 0xf),
                     Move48(0x42, kPlainVa + 0x80), Op(48, uint64_t{0x42} << 40),
                     Move48(2, kPlainVa + 0x300), Move32(10, 7), Store(10, 2, 1, 0)},
                    &waited),
            0);
  EXPECT_EQ(waited, 0);
  EXPECT_EQ(lab.FatalQueues(), 0u);
  EXPECT_EQ(lab.Word(lab.plain, 0x300), 7u) << "the stream ran past them";
}

TEST(CsTest, AnEmptyStreamIsASyncPoint) {
  Lab lab;
  int wait = -1;
  ASSERT_EQ(lab.Run({}, &wait), 0);
  EXPECT_EQ(wait, 0);
  EXPECT_EQ(lab.FatalQueues(), 0u);
}

TEST(CsTest, TheSameStreamGivesTheSameStateTwice) {
  uint64_t hash[2];
  for (int i = 0; i < 2; ++i) {
    Lab lab;
    lab.Run({Move48(2, kAof + 0x1000), Move32(10, 42), Store(10, 2, 1, 0),
             Move48(2, kAof + 0x90000), Store(10, 2, 1, 0)});
    hash[i] = lab.t.dev.StateHash();
  }
  EXPECT_EQ(hash[0], hash[1]);
}

}  // namespace
}  // namespace faultlab::dev

namespace faultlab::dev {
namespace {

TEST(CsTest, SyncWaitBlocksTheQueueUntilAnotherQueueSets) {
  SyncLab s;
  const uint32_t blocked = s.Submit(0, 0, s.Waiter());
  const uint32_t setter =
      s.Submit(1, 0x400, {Move48(2, kPlainVa + 0x100), Move32(10, 1), SyncSet32(10, 2)});
  EXPECT_EQ(s.Wait(setter), 0);
  EXPECT_EQ(s.Wait(blocked), 0);
  EXPECT_EQ(s.Word(0x200), 0xd0eu) << "the waiter ran on once released";
  PanthorGroupGetState st{s.group2, 0, 0, 0};
  ASSERT_EQ(s.lab.t.Call(kPanthorIoctlGroupGetState, &st), 0);
  EXPECT_EQ(st.state, 0u);
  EXPECT_TRUE(s.lab.t.dev.kernel_log().empty()) << s.lab.t.dev.kernel_log().front();
  EXPECT_LT(s.lab.t.dev.now_ns(), 1'000'000'000u);
}

TEST(CsTest, ACpuWriteSeenAtASubmitReleasesASyncWait) {
  SyncLab s;
  const uint32_t blocked = s.Submit(0, 0, s.Waiter());
  // The CPU sets the flag (a write through its mapping) and submits a sync
  // point: the GPU sees the write by then.
  const uint32_t one = 1;
  s.lab.t.dev.WriteGpuVa(s.lab.t.file, s.group2, kPlainVa + 0x100,
                         absl::string_view(reinterpret_cast<const char*>(&one), 4), /*note=*/true);
  s.Submit(1, 0, {});
  EXPECT_EQ(s.Wait(blocked), 0);
  EXPECT_EQ(s.Word(0x200), 0xd0eu);
}

TEST(CsTest, ASyncWaitNothingReleasesTimesOut) {
  SyncLab s;
  const uint32_t blocked = s.Submit(0, 0, s.Waiter());
  EXPECT_EQ(s.Wait(blocked), 0);
  PanthorGroupGetState st{s.group2, 0, 0, 0};
  ASSERT_EQ(s.lab.t.Call(kPanthorIoctlGroupGetState, &st), 0);
  EXPECT_EQ(st.state, kPanthorGroupStateTimedout);
  EXPECT_GE(s.lab.t.dev.now_ns(), 5'000'000'000u);
  EXPECT_EQ(s.Word(0x200), 0u);
  // <= holds at once on a zero flag: no wait.
  SyncLab le;
  const uint32_t done =
      le.Submit(0, 0, {Move48(2, kPlainVa + 0x100), Move32(10, 0), SyncWait32(10, 2, false)});
  EXPECT_EQ(le.Wait(done), 0);
  EXPECT_LT(le.lab.t.dev.now_ns(), 1'000'000'000u);
}

}  // namespace
}  // namespace faultlab::dev
