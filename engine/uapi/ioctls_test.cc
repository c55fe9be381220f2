#include "engine/uapi/ioctls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>

#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"

namespace faultlab::uapi {
namespace {

using ::testing::ElementsAre;

// A fake user address space: bytes at addresses.
struct FakeMemory {
  std::map<uint64_t, std::string> regions;
  uint64_t Put(uint64_t at, const void* p, size_t n) {
    regions[at] = std::string(static_cast<const char*>(p), n);
    return at;
  }
  UserReader Reader() const {
    return [this](void* dst, uint64_t address, size_t n) {
      for (const auto& [at, bytes] : regions) {
        if (address >= at && address + n <= at + bytes.size()) {
          std::memcpy(dst, bytes.data() + (address - at), n);
          return true;
        }
      }
      return false;
    };
  }
};

template <typename T>
std::string Bytes(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}

TEST(IoctlTableTest, RowsAreInIdOrderWithUniqueNumbersAndNames) {
  std::set<uint32_t> numbers;
  std::set<std::string> names;
  for (size_t i = 0; i < AllIoctls().size(); ++i) {
    const IoctlDesc& d = AllIoctls()[i];
    EXPECT_EQ(static_cast<size_t>(d.id), i) << d.name;
    EXPECT_TRUE(numbers.insert(d.nr()).second) << d.name;
    EXPECT_TRUE(names.insert(d.name).second) << d.name;
    EXPECT_EQ(IocType(d.cmd), kDrmIoctlBase) << d.name;
    // panthor's ioctls live in [DRM_COMMAND_BASE, DRM_COMMAND_END), the core's outside.
    EXPECT_EQ(d.panthor(), d.nr() >= kDrmCommandBase && d.nr() < kDrmCommandEnd) << d.name;
    // Render nodes may call all but three (drm_ioctls[]).
    const bool primary_only = d.id == IoctlId::kGetUnique || d.id == IoctlId::kSetVersion ||
                              d.id == IoctlId::kSetClientCap;
    EXPECT_EQ((d.drm_flags & kDrmRenderAllow) != 0, !primary_only) << d.name;
  }
  EXPECT_EQ(AllIoctls().size(), static_cast<size_t>(IoctlId::kCount));
}

TEST(IoctlTableTest, FoundByNumberWhateverTheCallersSize) {
  // Today's SYNCOBJ_WAIT (40 bytes, with deadline_nsec) and libdrm's older 32-byte form.
  EXPECT_EQ(FindIoctl(0xc02864c3)->id, IoctlId::kSyncobjWait);
  EXPECT_EQ(FindIoctl(kDrmIoctlSyncobjWait)->id, IoctlId::kSyncobjWait);
  EXPECT_EQ(FindIoctl(0xc03064ca)->id, IoctlId::kSyncobjTimelineWait);
  EXPECT_EQ(FindIoctl(Ioc(kIocRead | kIocWrite, 'd', 0x43, 8))->id, IoctlId::kVmBind);
  EXPECT_EQ(FindIoctl(Ioc(kIocNone, 'd', 0x45, 0))->id, IoctlId::kBoCreate)
      << "even with no direction";
  EXPECT_EQ(FindIoctl(kPanthorIoctlBoQueryInfo)->id, IoctlId::kBoQueryInfo);
  EXPECT_EQ(FindIoctl(Ioc(kIocRead | kIocWrite, 'X', 0x43, 24))->id, IoctlId::kVmBind)
      << "drm_ioctl() reads only the number";
  EXPECT_EQ(FindIoctl(Ioc(kIocRead | kIocWrite, 'd', 0x51, 24)), nullptr) << "past panthor 1.7";
  EXPECT_EQ(FindIoctl(Ioc(kIocRead | kIocWrite, 'd', 0x20, 8)), nullptr)
      << "a core ioctl panthor clients never use";
  EXPECT_STREQ(IoctlName(kPanthorIoctlVmBind), "PANTHOR_VM_BIND");
  EXPECT_STREQ(IoctlName(0x12345678), "");
}

TEST(IoctlTableTest, KernelSizesAndVersions) {
  EXPECT_EQ(Ioctl(IoctlId::kSyncobjWait).size(), 40u) << "deadline_nsec since Linux 6.5";
  EXPECT_EQ(Ioctl(IoctlId::kSyncobjTimelineWait).size(), 48u);
  EXPECT_EQ(Ioctl(IoctlId::kVmBind).cmd, kPanthorIoctlVmBind);
  EXPECT_EQ(Ioctl(IoctlId::kBoSetLabel).since.minor, 4);
  EXPECT_EQ(Ioctl(IoctlId::kSetUserMmioOffset).since.minor, 5);
  EXPECT_EQ(Ioctl(IoctlId::kBoSync).since.minor, 7);
  EXPECT_TRUE((DriverVersion{1, 3} <= DriverVersion{1, 3}));
  EXPECT_FALSE((DriverVersion{1, 4} <= DriverVersion{1, 3}));
  EXPECT_TRUE((DriverVersion{1, 7} <= DriverVersion{2, 0}));
}

// drm_ioctl(): in_size only if both the caller and the kernel copy in, likewise
// out; the kernel works on the largest of the three.
TEST(IoctlTableTest, CopySizesFollowDrmIoctl) {
  const IoctlDesc& wait = Ioctl(IoctlId::kSyncobjWait);
  CopySizes older = DrmCopySizes(kDrmIoctlSyncobjWait, wait);
  EXPECT_EQ(older.in, 32u);
  EXPECT_EQ(older.out, 32u);
  EXPECT_EQ(older.kernel, 40u) << "the tail is zero-filled";
  CopySizes bigger = DrmCopySizes(Ioc(kIocRead | kIocWrite, 'd', 0xc3, 64), wait);
  EXPECT_EQ(bigger.in, 64u);
  EXPECT_EQ(bigger.kernel, 64u);
  CopySizes write_only = DrmCopySizes(Ioc(kIocWrite, 'd', 0xc3, 40), wait);
  EXPECT_EQ(write_only.in, 40u);
  EXPECT_EQ(write_only.out, 0u) << "nothing is copied back to a caller that asked for none";
  const IoctlDesc& close = Ioctl(IoctlId::kGemClose);  // the kernel's is _IOW
  CopySizes as_rw = DrmCopySizes(Ioc(kIocRead | kIocWrite, 'd', 0x09, 8), close);
  EXPECT_EQ(as_rw.in, 8u);
  EXPECT_EQ(as_rw.out, 0u) << "the kernel's entry has no _IOC_READ";
  CopySizes none = DrmCopySizes(Ioc(kIocNone, 'd', 0x45, 0), Ioctl(IoctlId::kBoCreate));
  EXPECT_EQ(none.in, 0u);
  EXPECT_EQ(none.kernel, 24u);
}

TEST(IoctlTableTest, VmBindNamesItsOpsTheirSyncsAndMapOpsBos) {
  FakeMemory mem;
  PanthorSyncOp sync{kPanthorSyncOpSignal, 7, 0};
  const uint64_t syncs = mem.Put(0x3000, &sync, sizeof(sync));
  PanthorVmBindOp ops[2] = {};
  ops[0].flags = kPanthorVmBindOpTypeMap;
  ops[0].bo_handle = 3;
  ops[0].syncs = {sizeof(PanthorSyncOp), 1, syncs};
  ops[1].flags = kPanthorVmBindOpTypeUnmap;
  const uint64_t array = mem.Put(0x2000, ops, sizeof(ops));
  PanthorVmBind bind{1, 0, {sizeof(PanthorVmBindOp), 2, array}};
  std::vector<UserRange> in;
  UserRanges(Ioctl(IoctlId::kVmBind), Nested::Dir::kIn, Bytes(bind), "", 0, mem.Reader(), &in);
  ASSERT_EQ(in.size(), 2u);
  EXPECT_EQ(in[0].address, 0x2000u);
  EXPECT_EQ(in[0].length, 2 * sizeof(PanthorVmBindOp));
  EXPECT_EQ(in[1].address, 0x3000u);
  EXPECT_EQ(in[1].length, sizeof(PanthorSyncOp));
  std::vector<UserRange> out;
  UserRanges(Ioctl(IoctlId::kVmBind), Nested::Dir::kOut, Bytes(bind), Bytes(bind), 0, mem.Reader(),
             &out);
  EXPECT_TRUE(out.empty());
  const ObjRef& bo = Ioctl(IoctlId::kVmBind).nested[0].element_refs[0];
  EXPECT_EQ(bo.kind, ObjKind::kBo);
  EXPECT_TRUE(bo.Applies(reinterpret_cast<const char*>(&ops[0]), sizeof(ops[0])));
  EXPECT_FALSE(bo.Applies(reinterpret_cast<const char*>(&ops[1]), sizeof(ops[1])))
      << "an UNMAP names no BO";
}

TEST(IoctlTableTest, HostileCountsAndUnreadableArraysAreLeftOut) {
  FakeMemory mem;
  PanthorVmBind bind{1, 0, {sizeof(PanthorVmBindOp), 0xffffffff, 0x2000}};
  std::vector<UserRange> in;
  UserRanges(Ioctl(IoctlId::kVmBind), Nested::Dir::kIn, Bytes(bind), "", 0, mem.Reader(), &in);
  EXPECT_TRUE(in.empty()) << "190 GiB of ops is nobody's argument";
  bind.ops.count = 2;  // plausible, but nothing is mapped there
  UserRanges(Ioctl(IoctlId::kVmBind), Nested::Dir::kIn, Bytes(bind), "", 0, mem.Reader(), &in);
  ASSERT_EQ(in.size(), 1u) << "the array itself is named (the capture finds it unreadable)";
  DrmSyncobjWait wait{0x5000, 0, 0xffffffff, 0, 0, 0};
  in.clear();
  UserRanges(Ioctl(IoctlId::kSyncobjWait), Nested::Dir::kIn, Bytes(wait), "", 0, mem.Reader(), &in);
  EXPECT_TRUE(in.empty());
}

TEST(IoctlTableTest, OutputsFollowWhatTheKernelWrote) {
  FakeMemory mem;
  DrmVersion in{};
  in.name_len = 4;  // the caller's buffer is shorter than "panthor"
  in.name = 0x1000;
  DrmVersion got = in;
  got.name_len = 7;
  std::vector<UserRange> out;
  UserRanges(Ioctl(IoctlId::kVersion), Nested::Dir::kOut, Bytes(in), Bytes(got), 0, mem.Reader(),
             &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].length, 4u) << "drm_copy_field() writes min(buffer, string)";
  DrmUnique short_buf{3, 0x1000}, whole{12, 0x1000};
  out.clear();
  UserRanges(Ioctl(IoctlId::kGetUnique), Nested::Dir::kOut, Bytes(short_buf), Bytes(whole), 0,
             mem.Reader(), &out);
  EXPECT_TRUE(out.empty()) << "drm_getunique() writes nothing into a short buffer";
  PanthorDevQuery q{kPanthorDevQueryGpuInfo, 104, 0x4000};
  out.clear();
  UserRanges(Ioctl(IoctlId::kDevQuery), Nested::Dir::kOut, Bytes(q), Bytes(q), -22, mem.Reader(),
             &out);
  EXPECT_TRUE(out.empty()) << "a failed call wrote nothing";
  UserRanges(Ioctl(IoctlId::kDevQuery), Nested::Dir::kOut, Bytes(q), Bytes(q), 0, mem.Reader(),
             &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].length, 104u);
}

TEST(IoctlTableTest, ALabelIsReadToItsNul) {
  FakeMemory mem;
  std::string page_and_a_bit(4096 + 6, 'x');
  page_and_a_bit.replace(0, 11, std::string("shader\0junk", 11));
  mem.Put(0x1ffa, page_and_a_bit.data(),
          page_and_a_bit.size());  // the string crosses a page boundary
  PanthorBoSetLabel l{1, 0, 0x1ffa};
  std::vector<UserRange> in;
  UserRanges(Ioctl(IoctlId::kBoSetLabel), Nested::Dir::kIn, Bytes(l), "", 0, mem.Reader(), &in);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].length, 7u);
}

TEST(IoctlTableTest, CreationsAndReferencesForTheRemapper) {
  std::vector<IoctlId> creators;
  for (const IoctlDesc& d : AllIoctls()) {
    for (const ObjRef& r : d.creates) {
      if (r.kind != ObjKind::kSyncobj) creators.push_back(d.id);
    }
  }
  EXPECT_THAT(creators,
              ElementsAre(IoctlId::kPrimeFdToHandle, IoctlId::kVmCreate, IoctlId::kBoCreate,
                          IoctlId::kGroupCreate, IoctlId::kTilerHeapCreate));
  EXPECT_EQ(Ioctl(IoctlId::kBoMmapOffset).masked.size(), 1u);
  EXPECT_EQ(Ioctl(IoctlId::kDevQuery).board, BoardRule::kTakeOutputs);
}

}  // namespace
}  // namespace faultlab::uapi
