// What drivers 1.4 to 1.7 added, per variant: the series' variants report
// 1.6 (BO_SET_LABEL, SET_USER_MMIO_OFFSET and the LATEST_FLUSH_ID page),
// mainline 1.7 (WB_MMAP, BO_SYNC, BO_QUERY_INFO, selected_coherency); each
// with the kernel's argument checks and errnos. Also the kernel checks the
// twin once left out (GROUP_SUBMIT's stream and latest_flush, tiler heaps'
// chunk sizes and pools, a wait on what an earlier job of the same
// GROUP_SUBMIT signals) and the profile's job timeout.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "engine/dev/test_util.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {
namespace {

using namespace uapi;  // NOLINT
using testing::Config;
using testing::TestDevice;

constexpr uint64_t K = 1024, M = 1024 * 1024;

int Version(TestDevice& t) {
  DrmVersion v{};
  EXPECT_EQ(t.Call(kDrmIoctlVersion, &v), 0);
  return v.version_minor;
}

TEST(DriverVersionsTest, EachVariantReportsItsVersion) {
  TestDevice fixed, v3(Config(Variant::kSeriesV3)), mainline(Config(Variant::kMainline));
  EXPECT_EQ(Version(fixed), 6);
  EXPECT_EQ(Version(v3), 6);
  EXPECT_EQ(Version(mainline), 7);
  // 1.7's ioctls are unknown to a 1.6 driver (-EINVAL before any copy).
  EXPECT_EQ(fixed.dev.Ioctl(fixed.file, kPanthorIoctlBoQueryInfo, 0), -kEINVAL);
  EXPECT_EQ(mainline.dev.Ioctl(mainline.file, kPanthorIoctlBoQueryInfo, 0), -kEFAULT);
}

TEST(DriverVersionsTest, BoSetLabel) {
  TestDevice t;
  const uint32_t bo = t.CreateBo(64 * K);
  const std::string name = "tiler heap, frame 7";
  PanthorBoSetLabel a{bo, 0, t.Place(name.c_str(), name.size() + 1)};
  ASSERT_EQ(t.Call(kPanthorIoctlBoSetLabel, &a), 0);
  EXPECT_EQ(t.dev.LookupBo(t.file, bo)->label(), name);
  // 4095 characters and the NUL fit; 4096 and the NUL do not (E2BIG).
  std::string longest(4095, 'x');
  a.label = t.Place(longest.c_str(), longest.size() + 1);
  EXPECT_EQ(t.Call(kPanthorIoctlBoSetLabel, &a), 0);
  EXPECT_EQ(t.dev.LookupBo(t.file, bo)->label().size(), 4095u);
  std::string too_long(4096, 'y');
  a.label = t.Place(too_long.c_str(), too_long.size() + 1);
  EXPECT_EQ(t.Call(kPanthorIoctlBoSetLabel, &a), -kE2BIG);
  EXPECT_EQ(t.dev.LookupBo(t.file, bo)->label().size(), 4095u) << "a refused label changes nothing";
  // The NUL at the very end of a mapping: unreadable memory after it is
  // never touched (strnlen_user stops at the NUL).
  const uint64_t page = t.mem.Alloc(4096);
  t.mem.Write(page + 4096 - 3, "ab", 3);
  a.label = page + 4096 - 3;
  EXPECT_EQ(t.Call(kPanthorIoctlBoSetLabel, &a), 0);
  EXPECT_EQ(t.dev.LookupBo(t.file, bo)->label(), "ab");
  // No NUL before the mapping ends: EFAULT; an unmapped label: EFAULT.
  t.mem.Write(page + 4096 - 2, "cd", 2);
  a.label = page + 4096 - 2;
  EXPECT_EQ(t.Call(kPanthorIoctlBoSetLabel, &a), -kEFAULT);
  a.label = 8;
  EXPECT_EQ(t.Call(kPanthorIoctlBoSetLabel, &a), -kEFAULT);
  // NULL clears it; a pad or a bad handle is refused first.
  a.label = 0;
  EXPECT_EQ(t.Call(kPanthorIoctlBoSetLabel, &a), 0);
  EXPECT_EQ(t.dev.LookupBo(t.file, bo)->label(), "");
  PanthorBoSetLabel pad{bo, 1, 0}, none{4242, 0, 0};
  EXPECT_EQ(t.Call(kPanthorIoctlBoSetLabel, &pad), -kEINVAL);
  EXPECT_EQ(t.Call(kPanthorIoctlBoSetLabel, &none), -kENOENT);
}

TEST(DriverVersionsTest, UserMmioOffsetAndTheFlushIdPage) {
  TestDevice t;
  EXPECT_EQ(t.file->user_mmio_offset(), kPanthorUserMmioOffset64);
  File* compat = t.dev.Open(NodeType::kRender, &t.mem, Credentials{false, false, true});
  EXPECT_EQ(compat->user_mmio_offset(), kPanthorUserMmioOffset32) << "a compat task";
  // One page, shared, read-only, at the offset: anything else is EINVAL.
  const uint64_t at = kPanthorUserMmioOffset64;
  EXPECT_EQ(t.dev.MmapUserMmio(t.file, at, 4096, true, false, false), 0);
  EXPECT_EQ(t.dev.MmapUserMmio(t.file, at, 4096, false, false, false), -kEINVAL);
  EXPECT_EQ(t.dev.MmapUserMmio(t.file, at, 4096, true, true, false), -kEINVAL);
  EXPECT_EQ(t.dev.MmapUserMmio(t.file, at, 4096, true, false, true), -kEINVAL);
  EXPECT_EQ(t.dev.MmapUserMmio(t.file, at, 8192, true, false, false), -kEINVAL);
  EXPECT_EQ(t.dev.MmapUserMmio(t.file, at + 4096, 4096, true, false, false), -kEINVAL);
  // SET_USER_MMIO_OFFSET takes exactly the two offsets.
  for (uint64_t bad : {uint64_t{0}, uint64_t{1} << 44, kPanthorUserMmioOffset64 + 4096}) {
    PanthorSetUserMmioOffset s{bad};
    EXPECT_EQ(t.Call(kPanthorIoctlSetUserMmioOffset, &s), -kEINVAL) << bad;
  }
  PanthorSetUserMmioOffset s{kPanthorUserMmioOffset32};
  ASSERT_EQ(t.Call(kPanthorIoctlSetUserMmioOffset, &s), 0);
  EXPECT_EQ(t.dev.MmapUserMmio(t.file, kPanthorUserMmioOffset32, 4096, true, false, false), 0);
  EXPECT_EQ(t.dev.MmapUserMmio(t.file, at, 4096, true, false, false), -kEINVAL)
      << "1<<56 is past the page now";
  EXPECT_TRUE(Device::InUserMmio(t.file, kPanthorUserMmioOffset32));
  // The register counts cache flushes: a VM_BIND's page-table update is one.
  const uint32_t before = t.dev.latest_flush_id();
  const uint32_t vm = t.CreateVm(), bo = t.CreateBo(64 * K);
  ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, 0x100000, 64 * K)}), 0);
  EXPECT_EQ(t.dev.latest_flush_id(), before + 1);
}

TEST(DriverVersionsTest, MainlineBoCreateHasWbMmapAndNoAllocOnFault) {
  TestDevice t(Config(Variant::kMainline));
  PanthorBoCreate wb{4096, kPanthorBoWbMmap, 0, 0, 0};
  ASSERT_EQ(t.Call(kPanthorIoctlBoCreate, &wb), 0);
  EXPECT_FALSE(t.dev.LookupBo(t.file, wb.handle)->alloc_on_fault()) << "a plain, cached BO";
  PanthorBoCreate both{4096, kPanthorBoWbMmap | kPanthorBoNoMmap, 0, 0, 0};
  EXPECT_EQ(t.Call(kPanthorIoctlBoCreate, &both), -kEINVAL);
  PanthorBoCreate aof{2 * M, kPanthorBoAllocOnFault, 0, 0, 64 * K};
  EXPECT_EQ(t.Call(kPanthorIoctlBoCreate, &aof), -kEINVAL) << "the granularity is a pad there";
  // BO_QUERY_INFO gives the flags back.
  PanthorBoQueryInfo q{wb.handle, 7, 7, 7};
  ASSERT_EQ(t.Call(kPanthorIoctlBoQueryInfo, &q), 0);
  EXPECT_EQ(q.create_flags, kPanthorBoWbMmap);
  EXPECT_EQ(q.extra_flags, 0u);
  EXPECT_EQ(q.pad, 0u);
  q.handle = 4242;
  EXPECT_EQ(t.Call(kPanthorIoctlBoQueryInfo, &q), -kENOENT);
  // GPU_INFO names the coherency panthor chose (none); 1.6 leaves the pad 0.
  PanthorGpuInfo gi{};
  PanthorDevQuery dq{kPanthorDevQueryGpuInfo, sizeof(gi), t.mem.Alloc(sizeof(gi))};
  ASSERT_EQ(t.Call(kPanthorIoctlDevQuery, &dq), 0);
  t.mem.Read(dq.pointer, &gi, sizeof(gi));
  EXPECT_EQ(gi.selected_coherency, kGpuCoherencyNone);
  TestDevice fixed;
  dq.pointer = fixed.mem.Alloc(sizeof(gi));
  ASSERT_EQ(fixed.Call(kPanthorIoctlDevQuery, &dq), 0);
  fixed.mem.Read(dq.pointer, &gi, sizeof(gi));
  EXPECT_EQ(gi.selected_coherency, 0u);
}

TEST(DriverVersionsTest, BoSync) {
  TestDevice t(Config(Variant::kMainline));
  const uint32_t bo = t.CreateBo(64 * K);
  auto sync = [&t](std::vector<PanthorBoSyncOp> ops) {
    PanthorBoSync s{{sizeof(PanthorBoSyncOp), static_cast<uint32_t>(ops.size()),
                     ops.empty() ? 0 : t.Place(ops.data(), ops.size() * sizeof(ops[0]))}};
    return t.Call(kPanthorIoctlBoSync, &s);
  };
  EXPECT_EQ(sync({}), 0);
  EXPECT_EQ(sync({{bo, kPanthorBoSyncCpuCacheFlush, 0, 64 * K}}), 0);
  EXPECT_EQ(t.dev.LookupBo(t.file, bo)->pages().populated(), 16u) << "the sgt needs the pages";
  EXPECT_EQ(sync({{bo, kPanthorBoSyncCpuCacheFlushAndInvalidate, 4096, 4096}}), 0);
  EXPECT_EQ(sync({{bo, 2, 0, 4096}}), -kEINVAL) << "an unknown type";
  EXPECT_EQ(sync({{bo, 0, 60 * K, 8 * K}}), -kEINVAL) << "past the BO";
  EXPECT_EQ(sync({{bo, 0, ~uint64_t{0}, 2}}), -kEINVAL) << "a range that wraps";
  EXPECT_EQ(sync({{bo, 0, 0, 4096}, {4242, 0, 0, 4096}}), -kENOENT);
  PanthorBoSync short_stride{{8, 1, t.mem.Alloc(24)}};
  EXPECT_EQ(t.Call(kPanthorIoctlBoSync, &short_stride), -kEINVAL);
}

TEST(DriverVersionsTest, GroupSubmitChecksTheStreamAndTheFlushId) {
  TestDevice t;
  const uint32_t vm = t.CreateVm(), group = t.CreateGroup(vm);
  ASSERT_NE(group, 0u);
  auto submit = [&t, group](PanthorQueueSubmit q) {
    PanthorGroupSubmit gs{group, 0, {sizeof(q), 1, t.Place(&q, sizeof(q))}};
    return t.Call(kPanthorIoctlGroupSubmit, &gs);
  };
  EXPECT_EQ(submit({0, 0, 0x100000, 0, 0, {}}), -kEINVAL) << "an address without a size";
  EXPECT_EQ(submit({0, 64, 0, 0, 0, {}}), -kEINVAL) << "a size without an address";
  EXPECT_EQ(submit({0, 0, 0, 1u << 24, 0, {}}), -kEINVAL) << "latest_flush bit 24";
  EXPECT_EQ(submit({0, 0, 0, 1u << 30, 0, {}}), -kEINVAL) << "latest_flush bit 30";
  EXPECT_EQ(submit({1, 0, 0, 0, 0, {}}), -kEINVAL) << "queue index past the group's queues";
  EXPECT_EQ(submit({0, 0, 0, 0x80ffffffu, 0, {}}), 0) << "bit 31 and 23:0 are the id's";
}

TEST(DriverVersionsTest, AWaitOnWhatAnEarlierJobOfTheCallSignalsWaitsForThatJob) {
  TestDevice t;
  const uint32_t vm = t.CreateVm(), group = t.CreateGroup(vm, 2);
  DrmSyncobjCreate fresh{0, 0}, done{0, 0};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjCreate, &fresh), 0);
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjCreate, &done), 0);
  // Queue 0 signals `fresh` (no fence yet); queue 1 waits on it, then signals `done`.
  PanthorSyncOp sig{kPanthorSyncOpSignal, fresh.handle, 0};
  PanthorSyncOp ops1[2] = {{kPanthorSyncOpWait, fresh.handle, 0},
                           {kPanthorSyncOpSignal, done.handle, 0}};
  PanthorQueueSubmit qs[2] = {{0, 0, 0, 0, 0, {sizeof(sig), 1, t.Place(&sig, sizeof(sig))}},
                              {1, 0, 0, 0, 0, {sizeof(ops1[0]), 2, t.Place(ops1, sizeof(ops1))}}};
  PanthorGroupSubmit gs{group, 0, {sizeof(qs[0]), 2, t.Place(qs, sizeof(qs))}};
  ASSERT_EQ(t.Call(kPanthorIoctlGroupSubmit, &gs), 0)
      << "without the call's own signal the wait has no fence: -EINVAL";
  DrmSyncobjWait w{t.Place(&done.handle, 4), INT64_MAX, 1, 0, 0, 0};
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjWait, &w), 0);
  // In the other order, the wait comes first: the syncobj has no fence.
  std::swap(qs[0].syncs, qs[1].syncs);
  qs[0].queue_index = 0;
  qs[1].queue_index = 1;
  DrmSyncobjCreate later{0, 0};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjCreate, &later), 0);
  ops1[0].handle = later.handle;
  sig.handle = later.handle;
  qs[0].syncs.array = t.Place(ops1, sizeof(ops1));
  qs[1].syncs.array = t.Place(&sig, sizeof(sig));
  gs.queue_submits.array = t.Place(qs, sizeof(qs));
  EXPECT_EQ(t.Call(kPanthorIoctlGroupSubmit, &gs), -kEINVAL);
}

int HeapCreate(TestDevice& t, uint32_t vm, uint32_t chunk_size, PanthorTilerHeapCreate* out) {
  *out = PanthorTilerHeapCreate{vm, 1, chunk_size, 8, 4, 0, 0, 0};
  return t.Call(kPanthorIoctlTilerHeapCreate, out);
}

TEST(DriverVersionsTest, TilerHeapChunkSizesAndPools) {
  for (Variant v : {Variant::kSeriesFixed, Variant::kMainline}) {
    TestDevice t(Config(v));
    const uint32_t vm = t.CreateVm();
    // No pool before the VM's first TILER_HEAP_CREATE: ENOENT.
    PanthorTilerHeapDestroy d{vm << 16 | 1, 0};
    EXPECT_EQ(t.Call(kPanthorIoctlTilerHeapDestroy, &d), -kENOENT) << VariantName(v);
    PanthorTilerHeapCreate h;
    // The kernel's checks: a page-aligned size within [128 KiB, 8 MiB].
    EXPECT_EQ(HeapCreate(t, vm, 64 * K, &h), -kEINVAL);
    EXPECT_EQ(HeapCreate(t, vm, 128 * K + 100, &h), -kEINVAL);
    EXPECT_EQ(HeapCreate(t, vm, 16 * M, &h), -kEINVAL);
    // Even a refused create made the pool: a missing heap is EINVAL now.
    EXPECT_EQ(t.Call(kPanthorIoctlTilerHeapDestroy, &d), -kEINVAL) << VariantName(v);
    // Every power of two, 4 MiB included (a granule past the VA's 2 MiB
    // alignment), works on both.
    for (uint32_t size : {128 * K, 256 * K, 2 * M, 4 * M, 8 * M}) {
      ASSERT_EQ(HeapCreate(t, vm, size, &h), 0) << size << " on " << VariantName(v);
      // The series' granule is the chunk: its VA is aligned to it.
      if (HasAllocOnFault(v)) {
        EXPECT_EQ(h.first_heap_chunk_gpu_va % size, 0u) << size;
      }
    }
    // 192 KiB: valid to the kernel's checks; the series' granule must be a
    // power of two (see tiler_heaps.h), mainline takes it.
    EXPECT_EQ(HeapCreate(t, vm, 192 * K, &h), v == Variant::kMainline ? 0 : -kEINVAL)
        << VariantName(v);
  }
}

TEST(DriverVersionsTest, TheJobTimeoutIsTheProfiles) {
  DeviceConfig c = Config();
  c.profile.job_timeout_ns = 100'000'000;  // 100 ms
  TestDevice t(c);
  const uint32_t vm = t.CreateVm(), cs = t.CreateBo(64 * K), group = t.CreateGroup(vm);
  ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(cs, 0, 0x100000, 64 * K)}), 0);
  // BRANCH always, back to itself: a loop nothing ends.
  const uint64_t loop = uint64_t{22} << 56 | uint64_t{6} << 28 | 0xffff;
  t.dev.LookupBo(t.file, cs)->Write(0, &loop, 8);
  DrmSyncobjCreate sc{0, 0};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjCreate, &sc), 0);
  PanthorSyncOp sig{kPanthorSyncOpSignal, sc.handle, 0};
  PanthorQueueSubmit qs{0, 8, 0x100000, 0, 0, {sizeof(sig), 1, t.Place(&sig, sizeof(sig))}};
  PanthorGroupSubmit gs{group, 0, {sizeof(qs), 1, t.Place(&qs, sizeof(qs))}};
  ASSERT_EQ(t.Call(kPanthorIoctlGroupSubmit, &gs), 0);
  DrmSyncobjWait w{t.Place(&sc.handle, 4), INT64_MAX, 1, 0, 0, 0};
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjWait, &w), 0);
  EXPECT_GE(t.dev.now_ns(), 100'000'000u);
  EXPECT_LT(t.dev.now_ns(), 200'000'000u) << "not panthor's 5 s";
  PanthorGroupGetState st{group, 0, 0, 0};
  ASSERT_EQ(t.Call(kPanthorIoctlGroupGetState, &st), 0);
  EXPECT_EQ(st.state, kPanthorGroupStateTimedout) << "timed out, no queue fatal";
  EXPECT_EQ(st.fatal_queues, 0u);
}

TEST(DriverVersionsTest, ProfilesTakeAJobTimeout) {
  absl::StatusOr<profiles::Profile> p = profiles::LoadProfile("g610");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->job_timeout_ns, 5'000'000'000u) << "panthor's JOB_TIMEOUT_MS by default";
}

}  // namespace
}  // namespace faultlab::dev
