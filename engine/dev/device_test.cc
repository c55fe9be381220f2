// Errno tables for the ioctls of Engine A, both variants: every validation
// rule, in the kernel's order, with the kernel's errno.
#include "engine/dev/device.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "engine/dev/test_util.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {
namespace {

using namespace uapi;  // NOLINT
using testing::Config;
using testing::TestDevice;

constexpr uint32_t kAof = kPanthorBoAllocOnFault;

class BothVariants : public ::testing::TestWithParam<Variant> {};
INSTANTIATE_TEST_SUITE_P(Variants, BothVariants,
                         ::testing::Values(Variant::kSeriesFixed, Variant::kSeriesV3),
                         [](const auto& info) {
                           return std::string(info.param == Variant::kSeriesFixed ? "Fixed" : "V3");
                         });

struct BoCase {
  const char* name;
  uint64_t size;
  uint32_t flags;
  uint32_t granularity;
  int fixed;  // expected result, series-fixed
  int v3;     // expected result, series-v3
};

TEST(BoCreateTest, ErrnoTable) {
  const BoCase cases[] = {
      {"plain", 4096, 0, 0, 0, 0},
      {"size rounded", 1, 0, 0, 0, 0},
      {"zero size", 0, 0, 0, -kEINVAL, -kEINVAL},
      {"unknown flag", 4096, 1u << 2, 0, -kEINVAL, -kEINVAL},
      {"unknown high flag", 4096, 1u << 31, 0, -kEINVAL, -kEINVAL},
      {"no_mmap", 4096, kPanthorBoNoMmap, 0, 0, 0},
      {"granularity without flag", 4096, 0, 4096, -kEINVAL, -kEINVAL},
      {"aof 4K", 65536, kAof, 4096, 0, 0},
      {"aof 64K", 65536, kAof, 65536, 0, 0},
      {"aof 2M", 4 << 20, kAof, 2 << 20, 0, 0},
      {"aof granularity 0", 65536, kAof, 0, -kEINVAL, -kEINVAL},
      {"aof granularity below a page", 65536, kAof, 2048, -kEINVAL, -kEINVAL},
      {"aof granularity not a power of two", 65536, kAof, 12288, -kEINVAL, -kEINVAL},
      {"aof granularity above size", 65536, kAof, 131072, -kEINVAL, 0},
      {"aof granularity equals size", 65536, kAof, 65536, 0, 0},
      {"aof and no_mmap", 65536, kAof | kPanthorBoNoMmap, 4096, 0, 0},
      {"size past MAX_LFS_FILESIZE", 1ULL << 63, 0, 0, -kEINVAL, -kEINVAL},
      {"size that wraps when aligned", ~0ULL, 0, 0, -kEINVAL, -kEINVAL},
      {"huge but sparse size", 1ULL << 40, kAof, 1 << 21, 0, 0},
  };
  for (Variant v : {Variant::kSeriesFixed, Variant::kSeriesV3}) {
    TestDevice t(Config(v));
    for (const BoCase& c : cases) {
      PanthorBoCreate a{};
      a.size = c.size;
      a.flags = c.flags;
      a.alloc_on_fault_granularity = c.granularity;
      const int want = v == Variant::kSeriesFixed ? c.fixed : c.v3;
      EXPECT_EQ(t.Call(kPanthorIoctlBoCreate, &a), want) << c.name << " on " << VariantName(v);
      if (want == 0) {
        EXPECT_NE(a.handle, 0u) << c.name;
        EXPECT_EQ(a.size % 4096, 0u) << c.name;
        EXPECT_GE(a.size, c.size) << c.name;
      }
    }
    EXPECT_EQ(t.dev.memory().used_pages(), 0u) << "BO creation allocates no pages";
  }
}

TEST_P(BothVariants, BoCreateWithExclusiveVm) {
  TestDevice t(Config(GetParam()));
  PanthorVmCreate vm{};
  ASSERT_EQ(t.Call(kPanthorIoctlVmCreate, &vm), 0);
  EXPECT_NE(t.CreateBo(4096, 0, 0, vm.id), 0u);
  PanthorBoCreate a{};
  a.size = 4096;
  a.exclusive_vm_id = vm.id + 1;
  EXPECT_EQ(t.Call(kPanthorIoctlBoCreate, &a), -kEINVAL);
  // The checks before the VM lookup win.
  a.size = 0;
  EXPECT_EQ(t.Call(kPanthorIoctlBoCreate, &a), -kEINVAL);
}

TEST_P(BothVariants, HandlesAreLowestFreeFromOneAndPerFile) {
  TestDevice t(Config(GetParam()));
  EXPECT_EQ(t.CreateBo(4096), 1u);
  EXPECT_EQ(t.CreateBo(4096), 2u);
  EXPECT_EQ(t.CreateBo(4096), 3u);
  DrmGemClose c{2, 0};
  EXPECT_EQ(t.Call(kDrmIoctlGemClose, &c), 0);
  EXPECT_EQ(t.CreateBo(4096), 2u) << "idr_alloc reuses the lowest free id";
  File* other = t.dev.Open(NodeType::kRender, &t.mem);
  PanthorBoCreate a{};
  a.size = 4096;
  ASSERT_EQ(t.Call(kPanthorIoctlBoCreate, &a, other), 0);
  EXPECT_EQ(a.handle, 1u) << "handles are per file";
}

TEST_P(BothVariants, GemCloseErrnos) {
  TestDevice t(Config(GetParam()));
  const uint32_t h = t.CreateBo(4096);
  DrmGemClose c{h + 7, 0};
  EXPECT_EQ(t.Call(kDrmIoctlGemClose, &c), -kEINVAL);
  c = {0, 0};
  EXPECT_EQ(t.Call(kDrmIoctlGemClose, &c), -kEINVAL);
  c = {h, 123};  // no pad check in drm_gem_close_ioctl()
  EXPECT_EQ(t.Call(kDrmIoctlGemClose, &c), 0);
  EXPECT_EQ(t.Call(kDrmIoctlGemClose, &c), -kEINVAL) << "closed twice";
  EXPECT_EQ(t.dev.live_bos(), 0u);
}

TEST_P(BothVariants, MmapOffsetErrnosAndValues) {
  TestDevice t(Config(GetParam()));
  const uint32_t a = t.CreateBo(8192);
  const uint32_t b = t.CreateBo(4096);
  const uint32_t nommap = t.CreateBo(4096, kPanthorBoNoMmap);
  PanthorBoMmapOffset m{a, 0, 0};
  ASSERT_EQ(t.Call(kPanthorIoctlBoMmapOffset, &m), 0);
  EXPECT_EQ(m.offset, 0x100000000ULL) << "DRM_FILE_PAGE_OFFSET_START";
  PanthorBoMmapOffset again{a, 0, 0};
  ASSERT_EQ(t.Call(kPanthorIoctlBoMmapOffset, &again), 0);
  EXPECT_EQ(again.offset, m.offset) << "one node per object";
  PanthorBoMmapOffset mb{b, 0, 0};
  ASSERT_EQ(t.Call(kPanthorIoctlBoMmapOffset, &mb), 0);
  EXPECT_EQ(mb.offset, m.offset + 8192);
  PanthorBoMmapOffset bad{a, 1, 0};
  EXPECT_EQ(t.Call(kPanthorIoctlBoMmapOffset, &bad), -kEINVAL) << "pad before lookup";
  bad = {999, 0, 0};
  EXPECT_EQ(t.Call(kPanthorIoctlBoMmapOffset, &bad), -kENOENT);
  bad = {nommap, 0, 0};
  EXPECT_EQ(t.Call(kPanthorIoctlBoMmapOffset, &bad), -kEPERM);
}

TEST_P(BothVariants, VmCreateDestroyGetState) {
  TestDevice t(Config(GetParam()));
  PanthorVmCreate vm{};
  ASSERT_EQ(t.Call(kPanthorIoctlVmCreate, &vm), 0);
  EXPECT_EQ(vm.id, 1u);
  // g610: 48-bit VA, arm64 TASK_SIZE = 2^48 is not smaller, so user = full / 2.
  EXPECT_EQ(vm.user_va_range, 1ULL << 47);
  PanthorVmGetState st{vm.id, 99};
  ASSERT_EQ(t.Call(kPanthorIoctlVmGetState, &st), 0);
  EXPECT_EQ(st.state, kPanthorVmStateUsable);
  st = {vm.id + 1, 0};
  EXPECT_EQ(t.Call(kPanthorIoctlVmGetState, &st), -kEINVAL);

  PanthorVmCreate flags{1, 0, 0};
  EXPECT_EQ(t.Call(kPanthorIoctlVmCreate, &flags), -kEINVAL);
  PanthorVmCreate too_big{0, 0, (1ULL << 48) - (256ULL << 20) + 4096};
  EXPECT_EQ(t.Call(kPanthorIoctlVmCreate, &too_big), -kEINVAL);
  PanthorVmCreate max{0, 0, (1ULL << 48) - (256ULL << 20)};
  ASSERT_EQ(t.Call(kPanthorIoctlVmCreate, &max), 0);
  EXPECT_EQ(max.user_va_range, (1ULL << 48) - (256ULL << 20)) << "kernel VA is a power of two";
  PanthorVmCreate small{0, 0, 1ULL << 32};
  ASSERT_EQ(t.Call(kPanthorIoctlVmCreate, &small), 0);
  // full - user = 2^48 - 2^32, rounded down to 2^47: the kernel VA starts at 2^47.
  EXPECT_EQ(small.user_va_range, 1ULL << 47);

  PanthorVmDestroy d{vm.id, 1};
  EXPECT_EQ(t.Call(kPanthorIoctlVmDestroy, &d), -kEINVAL) << "pad";
  d = {vm.id, 0};
  EXPECT_EQ(t.Call(kPanthorIoctlVmDestroy, &d), 0);
  EXPECT_EQ(t.Call(kPanthorIoctlVmDestroy, &d), -kEINVAL) << "destroyed twice";
  PanthorVmCreate reuse{};
  ASSERT_EQ(t.Call(kPanthorIoctlVmCreate, &reuse), 0);
  EXPECT_EQ(reuse.id, 1u) << "xa_alloc reuses the lowest free id";
}

TEST(VmCreateTest, ThirtyTwoVmsPerFileThenEbusy) {
  TestDevice t;
  for (uint32_t i = 1; i <= kPanthorMaxVmsPerFile; ++i) {
    PanthorVmCreate vm{};
    ASSERT_EQ(t.Call(kPanthorIoctlVmCreate, &vm), 0);
    EXPECT_EQ(vm.id, i);
  }
  PanthorVmCreate vm{};
  EXPECT_EQ(t.Call(kPanthorIoctlVmCreate, &vm), -kEBUSY);
}

TEST(VmCreateTest, SmallerTaskSizeIsTheDefaultUserRange) {
  DeviceConfig c = Config();
  c.profile.task_size = 1ULL << 39;  // a 39-bit VA arm64 kernel
  TestDevice t(c);
  PanthorVmCreate vm{};
  ASSERT_EQ(t.Call(kPanthorIoctlVmCreate, &vm), 0);
  // full - user = 2^48 - 2^39 rounds down to 2^47.
  EXPECT_EQ(vm.user_va_range, 1ULL << 47);
  EXPECT_EQ(t.dev.LookupVm(t.file, vm.id)->kernel_va_range(), 1ULL << 47);
}

TEST(DispatchTest, RequestDecodingFollowsDrmIoctl) {
  TestDevice t;
  PanthorBoCreate a{};
  a.size = 4096;
  const uint64_t at = t.Place(&a, sizeof(a));
  // An unknown driver ioctl (index 15 is BO_SYNC, driver 1.7; the default
  // variant reports 1.6).
  EXPECT_EQ(t.dev.Ioctl(t.file, DrmIowr(0x40 + 15, 16), at), -kEINVAL);
  EXPECT_EQ(t.dev.Ioctl(t.file, DrmIowr(0x9f, 16), at), -kEINVAL);
  // An unknown core ioctl number.
  EXPECT_EQ(t.dev.Ioctl(t.file, DrmIowr(0xa0, 16), at), -kEINVAL);
  // A NULL or unmapped argument is -EFAULT before anything else.
  EXPECT_EQ(t.dev.Ioctl(t.file, kPanthorIoctlBoCreate, 0), -kEFAULT);
  EXPECT_EQ(t.dev.Ioctl(t.file, kPanthorIoctlBoCreate, 0xdead0000), -kEFAULT);
  // A shorter user struct is zero-extended: size only, flags and granularity 0.
  PanthorBoCreate short_arg{};
  short_arg.size = 4096;
  const uint64_t s = t.Place(&short_arg, 8);
  EXPECT_EQ(t.dev.Ioctl(t.file, DrmIowr(0x45, 8), s), 0);
  // Only _IOC_WRITE requests copy in: an _IOR request sees zeros (size 0).
  EXPECT_EQ(t.dev.Ioctl(t.file, DrmIor(0x45, sizeof(PanthorBoCreate)), at), -kEINVAL);
  // The result goes back even when the handler fails.
  PanthorVmCreate vm{};
  vm.flags = 1;
  vm.user_va_range = 77;
  EXPECT_EQ(t.Call(kPanthorIoctlVmCreate, &vm), -kEINVAL);
  EXPECT_EQ(vm.user_va_range, 77u);
  // The _IOR call copied its zeros back out; the type byte is not checked
  // by drm_ioctl().
  EXPECT_EQ(t.mem.Get<uint64_t>(at), 0u);
  const uint64_t fresh = t.Place(&a, sizeof(a));
  EXPECT_EQ(t.dev.Ioctl(t.file, Ioc(kIocRead | kIocWrite, 'X', 0x45, 24), fresh), 0);
}

TEST(DispatchTest, RenderNodesNeedRenderAllowAndMastersAreFirstOpeners) {
  TestDevice t(Config(), NodeType::kRender);
  DrmUnique u{};
  EXPECT_EQ(t.Call(kDrmIoctlGetUnique, &u), -kEACCES);
  DrmSetVersion sv{-1, -1, -1, -1};
  EXPECT_EQ(t.Call(kDrmIoctlSetVersion, &sv), -kEACCES);
  DrmSetClientCap cc{1, 1};
  EXPECT_EQ(t.Call(kDrmIoctlSetClientCap, &cc), -kEACCES);

  File* primary = t.dev.Open(NodeType::kPrimary, &t.mem);
  File* second = t.dev.Open(NodeType::kPrimary, &t.mem);
  EXPECT_TRUE(primary->is_master());
  EXPECT_FALSE(second->is_master());
  EXPECT_EQ(t.Call(kDrmIoctlSetVersion, &sv, primary), 0);
  EXPECT_EQ(sv.drm_di_major, 1);
  EXPECT_EQ(sv.drm_di_minor, 4);
  EXPECT_EQ(sv.drm_dd_major, 1);
  EXPECT_EQ(sv.drm_dd_minor, 6);
  sv = {-1, -1, -1, -1};
  EXPECT_EQ(t.Call(kDrmIoctlSetVersion, &sv, second), -kEACCES);
  sv = {1, 5, -1, -1};
  EXPECT_EQ(t.Call(kDrmIoctlSetVersion, &sv, primary), -kEINVAL);
  sv = {-1, -1, 1, 7};
  EXPECT_EQ(t.Call(kDrmIoctlSetVersion, &sv, primary), -kEINVAL) << "driver minor 7 > 6";
  EXPECT_EQ(t.Call(kDrmIoctlSetClientCap, &cc, primary), -kEOPNOTSUPP);
  t.dev.Close(primary);
  File* third = t.dev.Open(NodeType::kPrimary, &t.mem);
  EXPECT_TRUE(third->is_master()) << "mastership is free again after the master closed";
}

TEST(DispatchTest, VersionUniqueAndCaps) {
  TestDevice t(Config(), NodeType::kPrimary);
  char name[8] = {}, desc[64] = {};
  DrmVersion v{};
  v.name_len = 3;  // shorter than "panthor": copies 3, reports 7
  v.name = t.mem.Alloc(8);
  v.desc_len = sizeof(desc);
  v.desc = t.mem.Alloc(sizeof(desc));
  ASSERT_EQ(t.Call(kDrmIoctlVersion, &v), 0);
  t.mem.Read(v.name, name, 8);
  t.mem.Read(v.desc, desc, sizeof(desc));
  EXPECT_EQ(std::string(name), "pan");
  EXPECT_EQ(v.name_len, 7u);
  EXPECT_EQ(std::string(desc), "Panthor DRM driver");
  EXPECT_EQ(v.date_len, 8u) << "date reported even with a NULL buffer";
  EXPECT_EQ(v.version_major, 1);
  EXPECT_EQ(v.version_minor, 6) << "the series' variants report 1.6";
  v.name_len = 7;
  v.name = 0x10;  // unmapped
  EXPECT_EQ(t.Call(kDrmIoctlVersion, &v), -kEFAULT);

  DrmUnique u{};
  ASSERT_EQ(t.Call(kDrmIoctlGetUnique, &u), 0);
  EXPECT_EQ(u.unique_len, std::string("fb000000.gpu").size());
  u.unique = t.mem.Alloc(64);
  ASSERT_EQ(t.Call(kDrmIoctlGetUnique, &u), 0);
  char buf[13] = {};
  t.mem.Read(u.unique, buf, 12);
  EXPECT_EQ(std::string(buf), "fb000000.gpu");

  struct CapCase {
    uint64_t cap;
    int ret;
    uint64_t value;
  };
  for (const CapCase& c :
       {CapCase{kDrmCapSyncobj, 0, 1}, CapCase{kDrmCapSyncobjTimeline, 0, 1},
        CapCase{kDrmCapPrime, 0, 3}, CapCase{kDrmCapTimestampMonotonic, 0, 1},
        CapCase{kDrmCapDumbBuffer, -kEOPNOTSUPP, 0}, CapCase{0x9999, -kEOPNOTSUPP, 0}}) {
    DrmGetCap g{c.cap, 77};
    EXPECT_EQ(t.Call(kDrmIoctlGetCap, &g), c.ret) << c.cap;
    EXPECT_EQ(g.value, c.value) << c.cap;
  }
}

TEST(DispatchTest, UnplugMakesEverythingEnodev) {
  TestDevice t;
  t.dev.Unplug();
  PanthorBoCreate a{};
  a.size = 4096;
  EXPECT_EQ(t.Call(kPanthorIoctlBoCreate, &a), -kENODEV);
  DrmGetCap g{kDrmCapSyncobj, 0};
  EXPECT_EQ(t.Call(kDrmIoctlGetCap, &g), -kENODEV);
}

TEST_P(BothVariants, CpuMapPopulatesTheWholeBoEvenAllocOnFault) {
  TestDevice t(Config(GetParam()));
  const uint32_t h = t.CreateBo(64 << 10, kAof, 4096);
  PanthorBoMmapOffset m{h, 0, 0};
  ASSERT_EQ(t.Call(kPanthorIoctlBoMmapOffset, &m), 0);
  EXPECT_EQ(t.dev.memory().used_pages(), 0u) << "BO_MMAP_OFFSET populates nothing";
  uint64_t populated = 0;
  EXPECT_EQ(t.dev.MmapBo(t.file, m.offset, 64 << 10, /*shared=*/false, &populated), -kEINVAL);
  EXPECT_EQ(t.dev.MmapBo(t.file, m.offset + (1 << 20), 4096, true, &populated), -kEINVAL);
  File* other = t.dev.Open(NodeType::kRender, &t.mem);
  EXPECT_EQ(t.dev.MmapBo(other, m.offset, 4096, true, &populated), -kEACCES);
  ASSERT_EQ(t.dev.MmapBo(t.file, m.offset, 64 << 10, true, &populated), 0);
  EXPECT_EQ(populated, 16u);
  EXPECT_EQ(t.dev.memory().owned_pages(mem::Owner::kBoPage), 16u);
  ASSERT_EQ(t.dev.MmapBo(t.file, m.offset, 4096, true, &populated), 0);
  EXPECT_EQ(populated, 0u);
  DrmGemClose c{h, 0};
  ASSERT_EQ(t.Call(kDrmIoctlGemClose, &c), 0);
  EXPECT_EQ(t.dev.memory().used_pages(), 0u) << "closing the last handle frees the pages";
  EXPECT_EQ(t.dev.CheckInvariants(), "");
}

TEST(DeviceTest, CloseReleasesEverythingAndAccountingBalances) {
  TestDevice t;
  File* f = t.dev.Open(NodeType::kRender, &t.mem);
  for (int i = 0; i < 10; ++i) {
    PanthorBoCreate a{};
    a.size = 65536;
    ASSERT_EQ(t.Call(kPanthorIoctlBoCreate, &a, f), 0);
    PanthorBoMmapOffset m{a.handle, 0, 0};
    ASSERT_EQ(t.Call(kPanthorIoctlBoMmapOffset, &m, f), 0);
    uint64_t populated;
    ASSERT_EQ(t.dev.MmapBo(f, m.offset, 65536, true, &populated), 0);
  }
  EXPECT_EQ(t.dev.memory().used_pages(), 160u);
  t.dev.Close(f);
  EXPECT_EQ(t.dev.memory().used_pages(), 0u);
  EXPECT_EQ(t.dev.live_bos(), 0u);
  EXPECT_EQ(t.dev.CheckInvariants(), "");
}

}  // namespace
}  // namespace faultlab::dev
