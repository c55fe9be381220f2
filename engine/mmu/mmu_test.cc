#include "engine/mmu/mmu.h"

#include <gtest/gtest.h>

#include "engine/uapi/errno.h"

namespace faultlab::mmu {
namespace {

TEST(MmuTest, SlotsFirstFreeThenLruEvictionThenEbusy) {
  Mmu mmu(0x7);  // AS0 (firmware), AS1, AS2
  uint64_t evicted;
  EXPECT_EQ(mmu.Activate(10, &evicted), 1);
  EXPECT_EQ(mmu.Activate(20, &evicted), 2);
  EXPECT_EQ(mmu.Activate(30, &evicted), -uapi::kEBUSY) << "no idle VM to evict";
  mmu.Idle(20);
  mmu.Idle(10);
  EXPECT_EQ(mmu.Activate(30, &evicted), 2) << "the least recently idled goes";
  EXPECT_EQ(evicted, 20u);
  EXPECT_EQ(mmu.SlotOf(20), Mmu::kNoSlot);
  EXPECT_EQ(mmu.Activate(10, &evicted), 1) << "an idle VM keeps its slot (lazy)";
  EXPECT_EQ(evicted, 0u);
  EXPECT_EQ(mmu.evictions(), 1u);
  EXPECT_EQ(mmu.CheckInvariants(), "");
}

TEST(MmuTest, FaultsLatchUntilClearedAndReactivationClearsThem) {
  Mmu mmu(0xff);
  uint64_t evicted;
  const int as = mmu.Activate(7, &evicted);
  const uint32_t st = FaultStatus(kTranslationFault0 + 3, kAccessWrite, 0x100);
  EXPECT_TRUE(mmu.RaiseFault(as, st, 0x1000));
  EXPECT_FALSE(mmu.RaiseFault(as, st, 0x2000)) << "latched: the second access stalls behind it";
  EXPECT_EQ(mmu.fault_address(as), 0x1000u);
  EXPECT_EQ(mmu.rawstat(), 1u << as);
  mmu.set_faulty_mask(1u << as);
  mmu.set_int_mask(~(1u << as));
  mmu.Disable(as);
  EXPECT_FALSE(mmu.Enabled(as));
  mmu.Idle(7);
  EXPECT_EQ(mmu.Activate(7, &evicted), as);
  EXPECT_TRUE(mmu.Enabled(as));
  EXPECT_EQ(mmu.rawstat(), 0u);
  EXPECT_EQ(mmu.faulty_mask(), 0u);
  EXPECT_EQ(mmu.int_mask(), 0xffffu);
}

TEST(MmuTest, FaultLogIsTheKernelsFormat) {
  EXPECT_EQ(FormatFaultLog(1, 0x800010000, FaultStatus(0xc3, kAccessRead, 0x100)),
            "Unhandled Page fault in AS1 at VA 0x0000000800010000\n"
            "raw fault status: 0x10006C3\n"
            "decoded fault status: DECODER FAULT\n"
            "exception type 0xC3: TRANSLATION_FAULT_3\n"
            "access type 0x2: READ\n"
            "source id 0x100\n");
  EXPECT_STREQ(ExceptionName(0xc9), "PERM_FAULT_1");
  EXPECT_STREQ(ExceptionName(0x7e), "Unknown exception type");
}

}  // namespace
}  // namespace faultlab::mmu
