// VM_BIND: validation in the kernel's order, prepare/commit, page tables,
// sparse VMAs, the v3 defects, huge pages, async binds in virtual time.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/dev/test_util.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"
#include "engine/vm/vm.h"

namespace faultlab::dev {
namespace {

using namespace uapi;  // NOLINT
using pgtable::kSz2M;
using testing::Config;
using testing::TestDevice;
constexpr uint64_t K = 1024;
constexpr uint64_t M = 1024 * 1024;

std::shared_ptr<vm::Vm> VmOf(TestDevice& t, uint32_t id) { return t.dev.LookupVm(t.file, id); }

// The BO frame a VA translates to, or kNoFrame.
uint32_t FrameAt(TestDevice& t, uint32_t vm_id, uint64_t va) {
  const uint64_t phys = VmOf(t, vm_id)->page_table().IovaToPhys(va);
  return phys == 0 ? gem::kNoFrame : vm::FrameOfPhys(phys);
}

// Page-table pages from the device's memory, as the fault path takes them.
struct DeviceTables : pgtable::TableAllocator {
  explicit DeviceTables(mem::MemoryModel* m) : m(m) {}
  bool Alloc(uint32_t* f) override {
    return m->AllocPage(mem::AllocClass::kNoretry, mem::Owner::kPageTable, f);
  }
  void Free(uint32_t f) override { m->Free(f, mem::Owner::kPageTable); }
  mem::MemoryModel* m;
};

// Pages [first, first + n) of alloc-on-fault BO `bo` populated the way the
// fault path does (Engine C), no PTEs yet.
std::shared_ptr<gem::Bo> Populate(TestDevice& t, uint32_t bo, uint64_t first, uint64_t n) {
  std::shared_ptr<gem::Bo> b = t.dev.LookupBo(t.file, bo);
  gem::PopulateStats st;
  EXPECT_EQ(b->sparse()->PopulateRange(b->pages(), first, n, mem::AllocClass::kNoretry,
                                       mem::AllocClass::kNoretry, &st),
            0);
  return b;
}

TEST(VmBindTest, ValidationOrderAndErrnos) {
  TestDevice t;
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(64 * K);
  const uint32_t other_vm = t.CreateVm();
  const uint32_t excl = t.CreateBo(64 * K, 0, 0, other_vm);
  struct Case {
    const char* name;
    PanthorVmBindOp op;
    int want;
  };
  PanthorVmBindOp with_syncs = TestDevice::MapOp(bo, 0, 0x100000, 64 * K);
  with_syncs.syncs = {16, 1, 0x1234};
  PanthorVmBindOp zero_any = {};
  zero_any.flags = 0xf0000000;  // unknown type, but size 0 wins
  PanthorVmBindOp sync_only = {};
  sync_only.flags = kPanthorVmBindOpTypeSyncOnly;
  PanthorVmBindOp unmap_with_bo = TestDevice::UnmapOp(0x100000, 64 * K);
  unmap_with_bo.bo_handle = bo;
  PanthorVmBindOp unmap_flags = TestDevice::UnmapOp(0x100000, 64 * K);
  unmap_flags.flags |= kPanthorVmBindOpMapReadonly;
  PanthorVmBindOp bad_type = TestDevice::MapOp(bo, 0, 0x100000, 64 * K);
  bad_type.flags = 3u << 28;
  const Case cases[] = {
      {"map", TestDevice::MapOp(bo, 0, 0x100000, 64 * K), 0},
      {"syncs in sync mode", with_syncs, -kEINVAL},
      {"size 0 of any type", zero_any, 0},
      {"sync-only without syncs has size 0", sync_only, 0},
      {"unaligned va", TestDevice::MapOp(bo, 0, 0x100800, 64 * K), -kEINVAL},
      {"unaligned size", TestDevice::MapOp(bo, 0, 0x100000, 64 * K - 1), -kEINVAL},
      {"unaligned bo offset is not checked", TestDevice::MapOp(bo, 0x10, 0x200000, 4 * K), 0},
      {"unknown handle is EINVAL, not ENOENT", TestDevice::MapOp(99, 0, 0x100000, 64 * K),
       -kEINVAL},
      {"handle 0", TestDevice::MapOp(0, 0, 0x100000, 64 * K), -kEINVAL},
      {"unknown map flag", TestDevice::MapOp(bo, 0, 0x100000, 64 * K, 1u << 5), -kEINVAL},
      {"size beyond the BO", TestDevice::MapOp(bo, 0, 0x100000, 128 * K), -kEINVAL},
      {"offset + size beyond the BO", TestDevice::MapOp(bo, 4 * K, 0x100000, 64 * K), -kEINVAL},
      {"exclusive BO of another VM", TestDevice::MapOp(excl, 0, 0x100000, 64 * K), -kEINVAL},
      {"range outside the VM", TestDevice::MapOp(bo, 0, (1ULL << 48) - 4 * K, 64 * K), -kEINVAL},
      {"kernel half of the VA is not refused", TestDevice::MapOp(bo, 0, 1ULL << 47, 64 * K), 0},
      {"unmap with a BO handle", unmap_with_bo, -kEINVAL},
      {"unmap with map flags", unmap_flags, -kEINVAL},
      {"unknown type", bad_type, -kEINVAL},
      {"unmap", TestDevice::UnmapOp(0x100000, 64 * K), 0},
      {"unmap of nothing", TestDevice::UnmapOp(0x900000, 64 * K), 0},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(t.Bind(vm, {c.op}), c.want) << c.name;
  }
  EXPECT_EQ(t.Bind(vm + 7, {TestDevice::MapOp(bo, 0, 0, 4 * K)}), -kEINVAL) << "unknown VM";
  EXPECT_EQ(t.Bind(vm, {}), 0) << "no ops";
  EXPECT_EQ(VmOf(t, vm)->stats().pt_reservation_exhausted, 0u);
  EXPECT_EQ(t.dev.CheckInvariants(), "");
}

TEST(VmBindTest, OpsArrayUobjRules) {
  TestDevice t;
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(64 * K);
  PanthorVmBindOp op = TestDevice::MapOp(bo, 0, 0x100000, 64 * K);
  PanthorVmBind b{vm, 0, {40, 1, t.Place(&op, sizeof(op))}};
  EXPECT_EQ(t.Call(kPanthorIoctlVmBind, &b), -kEINVAL) << "stride below the minimum";
  b.ops = {48, 1, 0x40};
  EXPECT_EQ(t.Call(kPanthorIoctlVmBind, &b), -kEFAULT);
  std::vector<char> big(64, 0);
  std::memcpy(big.data(), &op, sizeof(op));
  big[60] = 1;
  b.ops = {64, 1, t.Place(big.data(), big.size())};
  EXPECT_EQ(t.Call(kPanthorIoctlVmBind, &b), -kE2BIG) << "non-zero tail of a bigger struct";
  big[60] = 0;
  b.ops = {64, 1, t.Place(big.data(), big.size())};
  EXPECT_EQ(t.Call(kPanthorIoctlVmBind, &b), 0) << "a bigger struct with a zero tail";
}

TEST(VmBindTest, SyncFailureReportsTheFailingIndexAndKeepsEarlierOps) {
  TestDevice t;
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(64 * K);
  uint32_t count = 0;
  EXPECT_EQ(
      t.Bind(
          vm,
          {TestDevice::MapOp(bo, 0, 0x100000, 64 * K), TestDevice::MapOp(bo, 0, 0x200000, 64 * K),
           TestDevice::MapOp(77, 0, 0x300000, 64 * K), TestDevice::MapOp(bo, 0, 0x400000, 64 * K)},
          0, &count),
      -kEINVAL);
  EXPECT_EQ(count, 2u);
  EXPECT_EQ(VmOf(t, vm)->va_space().size(), 2u);
  PanthorVmGetState st{vm, 0};
  ASSERT_EQ(t.Call(kPanthorIoctlVmGetState, &st), 0);
  EXPECT_EQ(st.state, kPanthorVmStateUsable) << "sync failures do not make the VM unusable";
}

TEST(VmBindTest, MapFillsPageTablesFromTheBoAndUnmapClears) {
  TestDevice t;
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(256 * K);
  ASSERT_EQ(
      t.Bind(vm, {TestDevice::MapOp(bo, 64 * K, 0x10000000, 128 * K, kPanthorVmBindOpMapReadonly)}),
      0);
  std::shared_ptr<gem::Bo> b = t.dev.LookupBo(t.file, bo);
  EXPECT_EQ(b->pages().populated(), 64u) << "the pin populated the whole BO";
  for (uint64_t off = 0; off < 128 * K; off += 4 * K) {
    EXPECT_EQ(FrameAt(t, vm, 0x10000000 + off), b->pages().FrameOf((64 * K + off) / (4 * K)));
  }
  EXPECT_EQ(FrameAt(t, vm, 0x10000000 + 128 * K), gem::kNoFrame);
  const pgtable::Walk w = VmOf(t, vm)->page_table().Translate(0x10000000);
  EXPECT_TRUE(w.pte & pgtable::kPteApRdonly);
  ASSERT_EQ(t.Bind(vm, {TestDevice::UnmapOp(0x10000000, 128 * K)}), 0);
  EXPECT_EQ(FrameAt(t, vm, 0x10000000), gem::kNoFrame);
  EXPECT_EQ(t.dev.CheckInvariants(), "");
  EXPECT_EQ(VmOf(t, vm)->CheckInvariants(), "");
}

TEST(VmBindTest, PreallocationFollowsTheKernelFormulaAndCommitNeverAllocates) {
  EXPECT_EQ(vm::Vm::MapPtCount(0x1000, 4 * K), 3u);
  EXPECT_EQ(vm::Vm::MapPtCount(0x200000, 2 * M), 3u);
  EXPECT_EQ(vm::Vm::MapPtCount(0x1ff000, 8 * K), 4u) << "spans two 2 MiB blocks";
  EXPECT_EQ(vm::Vm::MapPtCount((1ULL << 30) - 4 * K, 8 * K), 5u) << "two 1 GiB regions";
  EXPECT_EQ(vm::Vm::MapPtCount((1ULL << 39) - 4 * K, 8 * K), 6u) << "two 512 GiB regions";
  EXPECT_EQ(vm::Vm::UnmapPtCount(0x200000, 2 * M), 0u);
  EXPECT_EQ(vm::Vm::UnmapPtCount(0x201000, 4 * K), 1u);
  EXPECT_EQ(vm::Vm::UnmapPtCount(0x201000, 2 * M), 2u);

  TestDevice t;
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(8 * M);
  mem::MemoryModel& m = t.dev.memory();
  const uint64_t tables_before = m.owned_pages(mem::Owner::kPageTable);
  ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, 0x1ff000, 8 * K)}), 0);
  // Root exists already; the map needs L1, L2, and two L3: 4 used of 4 reserved.
  EXPECT_EQ(m.owned_pages(mem::Owner::kPageTable), tables_before + 4);
  EXPECT_EQ(VmOf(t, vm)->page_table().table_pages(), 5u);
  ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, 0x400000, 64 * K)}), 0);
  EXPECT_EQ(m.owned_pages(mem::Owner::kPageTable), tables_before + 5)
      << "3 reserved, 1 used (a new L3), 2 given back";
  EXPECT_EQ(VmOf(t, vm)->stats().pt_reservation_exhausted, 0u);
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(VmBindTest, AdjacentIdenticalMapsStayTwoVas) {
  TestDevice t;
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(128 * K);
  ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, 0x100000, 64 * K),
                        TestDevice::MapOp(bo, 64 * K, 0x110000, 64 * K)}),
            0);
  EXPECT_EQ(VmOf(t, vm)->va_space().size(), 2u) << "drm_gpuvm never coalesces";
}

TEST(VmBindTest, SparseVmasGetNoPagesAndUnmapSkipsUnpopulatedGranules) {
  TestDevice t;
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(1 * M, kPanthorBoAllocOnFault, 64 * K);
  const uint64_t tables_before = t.dev.memory().owned_pages(mem::Owner::kPageTable);
  ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, 0x20000000, 1 * M)}), 0);
  EXPECT_EQ(t.dev.memory().owned_pages(mem::Owner::kPageTable), tables_before)
      << "no preallocation, no PTEs for alloc-on-fault";
  EXPECT_EQ(t.dev.memory().owned_pages(mem::Owner::kBoPage), 0u);
  // Populate and map one granule the way the fault path will (Engine C).
  std::shared_ptr<gem::Bo> b = Populate(t, bo, 32, 16);
  ASSERT_FALSE(::testing::Test::HasFailure());
  DeviceTables tables(&t.dev.memory());
  ASSERT_EQ(VmOf(t, vm)->MapPages(0x20000000 + 128 * K, vm::Vm::FlagsToProt(0), *b, 128 * K, 64 * K,
                                  &tables),
            0);
  EXPECT_NE(FrameAt(t, vm, 0x20000000 + 128 * K), gem::kNoFrame);
  // Unmapping the whole sparse VMA skips the 15 empty granules.
  ASSERT_EQ(t.Bind(vm, {TestDevice::UnmapOp(0x20000000, 1 * M)}), 0);
  EXPECT_EQ(FrameAt(t, vm, 0x20000000 + 128 * K), gem::kNoFrame);
  EXPECT_EQ(VmOf(t, vm)->stats().unmap_failures, 0u);
}

// The seed's sparse unmap goes 4 KiB at a time while pages are mapped and
// jumps a whole granule from a hole, even from inside a granule (series v3
// 3/8, panthor_vm_unmap_pages): a granule mapped only in part leaves the
// next granule's first half mapped. The twin clears runs of pages at once;
// this pins that it lands where the seed's steps do.
TEST(VmBindTest, SparseUnmapStepsFromAHoleByAWholeGranule) {
  TestDevice t;
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(1 * M, kPanthorBoAllocOnFault, 64 * K);
  ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, 0x20000000, 1 * M)}), 0);
  std::shared_ptr<gem::Bo> b = Populate(t, bo, 0, 32);
  ASSERT_FALSE(::testing::Test::HasFailure());
  DeviceTables tables(&t.dev.memory());
  vm::Vm& v = *VmOf(t, vm);
  const int prot = vm::Vm::FlagsToProt(0);
  // Granule 0: its first 32 KiB only. Granule 1: whole.
  ASSERT_EQ(v.MapPages(0x20000000, prot, *b, 0, 32 * K, &tables), 0);
  ASSERT_EQ(v.MapPages(0x20000000 + 64 * K, prot, *b, 64 * K, 64 * K, &tables), 0);
  ASSERT_EQ(t.Bind(vm, {TestDevice::UnmapOp(0x20000000, 1 * M)}), 0);
  for (uint64_t off = 0; off < 128 * K; off += 4 * K) {
    // The hole at 32 KiB sends the walk to 96 KiB: 64..96 KiB stays mapped.
    const bool left = off >= 64 * K && off < 96 * K;
    EXPECT_EQ(FrameAt(t, vm, 0x20000000 + off) != gem::kNoFrame, left) << "offset " << off;
  }
  EXPECT_EQ(v.stats().unmap_failures, 0u);
}

TEST(VmBindTest, V3RemapDefectIsAnOopsAndTheEngineCarriesOn) {
  for (Variant v : {Variant::kSeriesFixed, Variant::kSeriesV3}) {
    TestDevice t(Config(v));
    const uint32_t vm = t.CreateVm();
    const uint32_t bo = t.CreateBo(256 * K);
    ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, 0x100000, 256 * K)}), 0);
    // Unmapping the head: the remap has a next part and no prev.
    const int ret = t.Bind(vm, {TestDevice::UnmapOp(0x100000, 64 * K)});
    if (v == Variant::kSeriesFixed) {
      EXPECT_EQ(ret, 0);
      EXPECT_TRUE(t.dev.oopses().empty());
      continue;
    }
    EXPECT_EQ(ret, -kEFAULT);
    ASSERT_EQ(t.dev.oopses().size(), 1u);
    EXPECT_EQ(t.dev.oopses()[0].function, "panthor_gpuva_sm_step_remap");
    EXPECT_NE(t.dev.oopses()[0].message.find("op->remap.prev->gem.obj"), std::string::npos);
    PanthorVmGetState st{vm, 0};
    ASSERT_EQ(t.Call(kPanthorIoctlVmGetState, &st), 0);
    EXPECT_EQ(st.state, kPanthorVmStateUnusable);
    // Nothing was unmapped before the NULL dereference.
    EXPECT_NE(FrameAt(t, vm, 0x100000), gem::kNoFrame);
    // Mapping over the head of a mapping triggers it too (another VM).
    const uint32_t vm2 = t.CreateVm();
    ASSERT_EQ(t.Bind(vm2, {TestDevice::MapOp(bo, 0, 0x100000, 256 * K)}), 0);
    EXPECT_EQ(t.Bind(vm2, {TestDevice::MapOp(bo, 0, 0x100000, 64 * K)}), -kEFAULT);
    EXPECT_EQ(t.dev.oopses().size(), 2u);
  }
}

TEST(VmBindTest, V3MiddleUnmapRunsOutOfPreallocatedVmas) {
  for (Variant v : {Variant::kSeriesFixed, Variant::kSeriesV3}) {
    TestDevice t(Config(v));
    const uint32_t vm = t.CreateVm();
    const uint32_t bo = t.CreateBo(256 * K);
    ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, 0x100000, 256 * K)}), 0);
    const int ret = t.Bind(vm, {TestDevice::UnmapOp(0x110000, 64 * K)});
    if (v == Variant::kSeriesFixed) {
      EXPECT_EQ(ret, 0);
      EXPECT_EQ(VmOf(t, vm)->va_space().size(), 2u);
    } else {
      EXPECT_EQ(ret, -kEFAULT);
      ASSERT_EQ(t.dev.oopses().size(), 1u);
      EXPECT_NE(t.dev.oopses()[0].message.find("panthor_vma_init"), std::string::npos);
    }
  }
}

// Huge pages (thp=within_size): 8 KiB unmapped at the left, right and middle
// of 2 MiB blocks; supersets, subsets, successive unmaps, offset BOs.
struct HugeCase {
  const char* name;
  uint64_t bo_size;
  uint64_t bo_offset;  // of the mapping
  uint64_t map_size;
  std::vector<std::pair<uint64_t, uint64_t>> unmaps;  // (offset from base, size)
  int fixed_ret;
  int v3_ret;
  // After the unmaps (series-fixed): 4 KiB pages that must stay mapped
  // (offsets from base), and ones that must be gone.
  std::vector<uint64_t> mapped;
  std::vector<uint64_t> gone;
};

TEST(VmBindTest, HugePagePartialUnmapsPerVariant) {
  const uint64_t base = 0x40000000;  // 1 GiB: 2 MiB and 1 GiB aligned
  const HugeCase cases[] = {
      // The head of the mapping: on v3 the remap defect fires first (an oops).
      {"8K at the left of a block",
       4 * M,
       0,
       4 * M,
       {{0, 8 * K}},
       0,
       -kEFAULT,
       {8 * K, 2 * M - 4 * K, 2 * M},
       {0, 4 * K}},
      {"8K at the right of a block",
       4 * M,
       0,
       4 * M,
       {{2 * M - 8 * K, 8 * K}},
       0,
       -kEINVAL,
       {0, 2 * M - 12 * K, 2 * M},
       {2 * M - 8 * K, 2 * M - 4 * K}},
      {"8K in the middle of a block",
       4 * M,
       0,
       4 * M,
       {{1 * M, 8 * K}},
       0,
       -kEINVAL,
       {0, 1 * M - 4 * K, 1 * M + 8 * K, 3 * M},
       {1 * M, 1 * M + 4 * K}},
      {"superset of a block",
       4 * M,
       0,
       4 * M,
       {{0, 2 * M}},
       0,
       -kEFAULT,
       {2 * M},
       {0, 2 * M - 4 * K}},
      {"a whole block at the tail",
       4 * M,
       0,
       4 * M,
       {{2 * M, 2 * M}},
       0,
       0,
       {0, 2 * M - 4 * K},
       {2 * M, 4 * M - 4 * K}},
      {"subset across two blocks",
       4 * M,
       0,
       4 * M,
       {{2 * M - 8 * K, 16 * K}},
       0,
       -kEINVAL,
       {0, 2 * M - 12 * K, 2 * M + 8 * K},
       {2 * M - 8 * K, 2 * M + 4 * K}},
      {"successive unmaps in one block",
       4 * M,
       0,
       4 * M,
       {{1 * M, 8 * K}, {1 * M + 8 * K, 8 * K}},
       0,
       -kEINVAL,
       {1 * M - 4 * K, 1 * M + 16 * K},
       {1 * M, 1 * M + 12 * K}},
      {"offset BO: a block mapping at a 2 MiB offset",
       6 * M,
       2 * M,
       4 * M,
       {{4 * K, 8 * K}},
       0,
       -kEINVAL,
       {0, 12 * K, 2 * M},
       {4 * K, 8 * K}},
  };
  for (Variant v : {Variant::kSeriesFixed, Variant::kSeriesV3}) {
    for (const HugeCase& c : cases) {
      DeviceConfig cfg = Config(v);
      cfg.thp = mem::ThpMode::kWithinSize;
      TestDevice t(cfg);
      const uint32_t vm = t.CreateVm();
      const uint32_t bo = t.CreateBo(c.bo_size);
      ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, c.bo_offset, base, c.map_size)}), 0) << c.name;
      std::shared_ptr<gem::Bo> b = t.dev.LookupBo(t.file, bo);
      EXPECT_EQ(VmOf(t, vm)->page_table().Translate(base).level, 2) << c.name << ": a 2 MiB block";
      int ret = 0;
      for (const auto& [off, size] : c.unmaps) {
        ret = t.Bind(vm, {TestDevice::UnmapOp(base + off, size)});
        if (ret) break;
      }
      const std::string what = std::string(c.name) + " on " + VariantName(v);
      EXPECT_EQ(ret, v == Variant::kSeriesFixed ? c.fixed_ret : c.v3_ret) << what;
      if (v == Variant::kSeriesFixed) {
        for (uint64_t off : c.mapped) {
          EXPECT_EQ(FrameAt(t, vm, base + off), b->pages().FrameOf((c.bo_offset + off) / (4 * K)))
              << what << " @+0x" << std::hex << off;
        }
        for (uint64_t off : c.gone) {
          EXPECT_EQ(FrameAt(t, vm, base + off), gem::kNoFrame)
              << what << " @+0x" << std::hex << off;
        }
      } else if (ret == -kEINVAL) {
        EXPECT_NE(FrameAt(t, vm, base + c.unmaps[0].first), gem::kNoFrame)
            << what << ": v3 unmaps nothing";
      }
      EXPECT_EQ(VmOf(t, vm)->CheckInvariants(), "") << what;
      EXPECT_EQ(VmOf(t, vm)->stats().pt_reservation_exhausted, 0u) << what;
    }
  }
}

TEST(VmBindTest, AsyncBindsCompleteThroughFencesInVirtualTime) {
  TestDevice t;
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(64 * K);
  DrmSyncobjCreate sc{0, 0};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjCreate, &sc), 0);
  PanthorSyncOp sig{kPanthorSyncOpSignal, sc.handle, 0};
  PanthorVmBindOp op = TestDevice::MapOp(bo, 0, 0x100000, 64 * K);
  op.syncs = {sizeof(PanthorSyncOp), 1, t.Place(&sig, sizeof(sig))};
  const uint64_t t0 = t.dev.now_ns();
  ASSERT_EQ(t.Bind(vm, {op}, kPanthorVmBindAsync), 0);
  EXPECT_EQ(VmOf(t, vm)->va_space().size(), 0u) << "not executed yet";
  const uint32_t handles[1] = {sc.handle};
  DrmSyncobjWait w{t.Place(handles, 4), INT64_MAX, 1, 0, 0, 0};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjWait, &w), 0);
  EXPECT_EQ(VmOf(t, vm)->va_space().size(), 1u);
  EXPECT_GT(t.dev.now_ns(), t0) << "virtual time moved";

  // A job waiting on a syncobj that is signalled later runs after it.
  DrmSyncobjCreate gate{0, 0}, done{0, 0};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjCreate, &gate), 0);
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjCreate, &done), 0);
  DrmSyncobjArray sig_gate{t.Place(&gate.handle, 4), 1, 0};
  // No fence on `gate` yet: a wait op needs one (-EINVAL).
  PanthorSyncOp wait_gate{kPanthorSyncOpWait, gate.handle, 0};
  PanthorVmBindOp unmap = TestDevice::UnmapOp(0x100000, 64 * K);
  unmap.syncs = {sizeof(PanthorSyncOp), 1, t.Place(&wait_gate, sizeof(wait_gate))};
  EXPECT_EQ(t.Bind(vm, {unmap}, kPanthorVmBindAsync), -kEINVAL);
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjSignal, &sig_gate), 0);
  PanthorSyncOp ops2[2] = {wait_gate, {kPanthorSyncOpSignal, done.handle, 0}};
  unmap.syncs = {sizeof(PanthorSyncOp), 2, t.Place(ops2, sizeof(ops2))};
  ASSERT_EQ(t.Bind(vm, {unmap}, kPanthorVmBindAsync), 0);
  DrmSyncobjWait w2{t.Place(&done.handle, 4), INT64_MAX, 1, 0, 0, 0};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjWait, &w2), 0);
  EXPECT_EQ(VmOf(t, vm)->va_space().size(), 0u);
}

TEST(VmBindTest, AsyncFailureMarksTheVmUnusableAndSyncOnlyNeedsAsync) {
  TestDevice t;
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(64 * K);
  DrmSyncobjCreate sc{0, 0};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjCreate, &sc), 0);
  PanthorSyncOp sig{kPanthorSyncOpSignal, sc.handle, 0};
  // Out of range: valid at prepare, fails at exec (drm_gpuvm_range_valid()).
  PanthorVmBindOp op = TestDevice::MapOp(bo, 0, (1ULL << 48) - 32 * K, 64 * K);
  op.syncs = {sizeof(PanthorSyncOp), 1, t.Place(&sig, sizeof(sig))};
  ASSERT_EQ(t.Bind(vm, {op}, kPanthorVmBindAsync), 0) << "the error shows on the fence";
  t.dev.RunAll();
  PanthorVmGetState st{vm, 0};
  ASSERT_EQ(t.Call(kPanthorIoctlVmGetState, &st), 0);
  EXPECT_EQ(st.state, kPanthorVmStateUnusable);
  EXPECT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, 0x100000, 64 * K)}, kPanthorVmBindAsync), -kEINVAL)
      << "job creation refuses an unusable VM";
  EXPECT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, 0x100000, 64 * K)}), -kEINVAL)
      << "sync maps are refused at exec";

  const uint32_t vm2 = t.CreateVm();
  PanthorVmBindOp sync_only{};
  sync_only.flags = kPanthorVmBindOpTypeSyncOnly;
  EXPECT_EQ(t.Bind(vm2, {sync_only}, kPanthorVmBindAsync), -kEINVAL) << "no syncs";
  sync_only.syncs = {sizeof(PanthorSyncOp), 1, t.Place(&sig, sizeof(sig))};
  EXPECT_EQ(t.Bind(vm2, {sync_only}, kPanthorVmBindAsync), 0);
  sync_only.va = 0x1000;
  EXPECT_EQ(t.Bind(vm2, {sync_only}, kPanthorVmBindAsync), -kEINVAL) << "va must be 0";
  PanthorSyncOp bad{1u << 8, sc.handle, 0};
  PanthorVmBindOp m = TestDevice::MapOp(bo, 0, 0x100000, 64 * K);
  m.syncs = {sizeof(PanthorSyncOp), 1, t.Place(&bad, sizeof(bad))};
  EXPECT_EQ(t.Bind(vm2, {m}, kPanthorVmBindAsync), -kEINVAL) << "unknown sync flag";
  PanthorSyncOp tl{kPanthorSyncOpSignal, sc.handle, 5};
  m.syncs = {sizeof(PanthorSyncOp), 1, t.Place(&tl, sizeof(tl))};
  EXPECT_EQ(t.Bind(vm2, {m}, kPanthorVmBindAsync), -kEINVAL) << "point on a binary syncobj";
  t.dev.RunAll();
  EXPECT_EQ(t.dev.CheckInvariants(), "");
}

TEST(VmBindTest, StateHashIsDeterministic) {
  auto run = [] {
    TestDevice t;
    const uint32_t vm = t.CreateVm();
    const uint32_t bo = t.CreateBo(1 * M);
    t.Bind(vm, {TestDevice::MapOp(bo, 0, 0x100000, 1 * M), TestDevice::UnmapOp(0x140000, 64 * K)});
    return VmOf(t, vm)->Hash();
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace faultlab::dev

namespace faultlab::dev {
namespace {

TEST(UobjTest, AHostileStrideIsNotAllocated) {
  TestDevice t;
  const uint32_t vm = t.CreateVm();
  PanthorVmBindOp op = TestDevice::MapOp(1, 0, 0x100000, 4096);
  // A 3 GiB stride over a 48-byte mapping: the tail check faults; nothing big
  // is allocated on the way (ASan would catch a 3 GiB vector too).
  PanthorVmBind b{vm, 0, {0xC0000000u, 1, t.Place(&op, sizeof(op))}};
  EXPECT_EQ(t.Call(kPanthorIoctlVmBind, &b), -kEFAULT);
  // Four million elements of 64 bytes each: refused before any copy (> INT_MAX
  // bytes is kvmalloc's limit, so -ENOMEM) only past 2 GiB; here it faults.
  PanthorVmBind many{vm, 0, {48, 4'000'000, t.Place(&op, sizeof(op))}};
  EXPECT_EQ(t.Call(kPanthorIoctlVmBind, &many), -kEFAULT);
  PanthorVmBind huge{vm, 0, {48, 0xffffffffu, t.Place(&op, sizeof(op))}};
  EXPECT_EQ(t.Call(kPanthorIoctlVmBind, &huge), -kENOMEM) << "more than INT_MAX bytes";
}

}  // namespace
}  // namespace faultlab::dev
