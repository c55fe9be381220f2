// DEV_QUERY: every type, size negotiation (NULL pointer reports the size),
// short buffers rejected, tails zero-filled, -EFAULT through the seam, values
// from the profiles.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "engine/dev/test_util.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {
namespace {

using namespace uapi;  // NOLINT
using testing::Config;
using testing::TestDevice;

struct QueryCase {
  uint32_t type;
  uint32_t kern_size;
  uint32_t min_size;
};

constexpr QueryCase kQueries[] = {
    {kPanthorDevQueryGpuInfo, 104, 96},
    {kPanthorDevQueryCsifInfo, 24, 24},
    {kPanthorDevQueryTimestampInfo, 24, 16},
    {kPanthorDevQueryGroupPrioritiesInfo, 4, 4},
};

TEST(DevQueryTest, SizeNegotiationAndBounds) {
  TestDevice t;
  for (const QueryCase& c : kQueries) {
    PanthorDevQuery q{c.type, 0, 0};
    ASSERT_EQ(t.Call(kPanthorIoctlDevQuery, &q), 0) << c.type;
    EXPECT_EQ(q.size, c.kern_size) << c.type;

    const uint64_t buf = t.mem.Alloc(256);
    std::vector<char> junk(256, '\x5a');
    t.mem.Write(buf, junk.data(), junk.size());
    q = {c.type, c.min_size - 1, buf};
    EXPECT_EQ(t.Call(kPanthorIoctlDevQuery, &q), -kEINVAL) << "short buffer, type " << c.type;
    q = {c.type, c.min_size, buf};
    EXPECT_EQ(t.Call(kPanthorIoctlDevQuery, &q), 0) << c.type;
    // A bigger user struct: the tail past the kernel's size is zeroed.
    q = {c.type, c.kern_size + 16, buf};
    ASSERT_EQ(t.Call(kPanthorIoctlDevQuery, &q), 0) << c.type;
    std::vector<char> got(c.kern_size + 24);
    t.mem.Read(buf, got.data(), got.size());
    for (uint32_t i = c.kern_size; i < c.kern_size + 16; ++i) EXPECT_EQ(got[i], 0) << i;
    EXPECT_EQ(got[c.kern_size + 16], '\x5a') << "nothing written past the user size";
    // Bad pointers through the seam.
    q = {c.type, c.kern_size, 0x1000};
    EXPECT_EQ(t.Call(kPanthorIoctlDevQuery, &q), -kEFAULT) << c.type;
    const uint64_t ro = t.mem.Alloc(4096, SimUserMemory::kRead);
    q = {c.type, c.kern_size, ro};
    EXPECT_EQ(t.Call(kPanthorIoctlDevQuery, &q), -kEFAULT) << c.type;
    // The zero-fill of a too-big struct can fault too.
    const uint64_t edge = t.mem.Alloc(4096);
    q = {c.type, 4096 + 8, edge};
    EXPECT_EQ(t.Call(kPanthorIoctlDevQuery, &q), -kEFAULT) << c.type;
  }
  PanthorDevQuery q{4, 0, 0};  // MMU_INFO: unknown to driver 1.3
  EXPECT_EQ(t.Call(kPanthorIoctlDevQuery, &q), -kEINVAL);
  q = {4, 8, t.mem.Alloc(8)};
  EXPECT_EQ(t.Call(kPanthorIoctlDevQuery, &q), -kEINVAL);
}

TEST(DevQueryTest, GpuInfoIsTheProfilesWholeRegisters) {
  for (const char* id : {"g610", "g310", "g925"}) {
    TestDevice t(Config(Variant::kSeriesFixed, id));
    PanthorGpuInfo info{};
    PanthorDevQuery q{kPanthorDevQueryGpuInfo, sizeof(info), t.mem.Alloc(sizeof(info))};
    ASSERT_EQ(t.Call(kPanthorIoctlDevQuery, &q), 0);
    t.mem.Read(q.pointer, &info, sizeof(info));
    EXPECT_EQ(std::memcmp(&info, &t.dev.profile().gpu_info, sizeof(info)), 0) << id;
    EXPECT_GE(info.gpu_id >> 28, 10u) << id << ": arch_major from a whole GPU_ID register";
    EXPECT_EQ(info.mmu_features & 0xff, 48u) << id;
  }
  TestDevice t;
  PanthorGpuInfo info{};
  PanthorDevQuery q{kPanthorDevQueryGpuInfo, sizeof(info), t.mem.Alloc(sizeof(info))};
  ASSERT_EQ(t.Call(kPanthorIoctlDevQuery, &q), 0);
  t.mem.Read(q.pointer, &info, sizeof(info));
  EXPECT_EQ(info.gpu_id, 0xa8670005u);
  EXPECT_EQ(info.shader_present, 0x50005u);
  EXPECT_EQ(info.as_present, 0xffu);
  EXPECT_EQ(info.csf_id, 0x40a0412u);
  PanthorCsifInfo csif{};
  q = {kPanthorDevQueryCsifInfo, sizeof(csif), t.mem.Alloc(sizeof(csif))};
  ASSERT_EQ(t.Call(kPanthorIoctlDevQuery, &q), 0);
  t.mem.Read(q.pointer, &csif, sizeof(csif));
  EXPECT_EQ(csif.csg_slot_count, 8u);
  EXPECT_EQ(csif.cs_reg_count, 96u);
}

TEST(DevQueryTest, TimestampFollowsVirtualTime) {
  TestDevice t;
  t.dev.scheduler().RunUntil([] { return false; }, 2'000'000'000);  // 2 s at 24 MHz
  PanthorTimestampInfo ts{};
  PanthorDevQuery q{kPanthorDevQueryTimestampInfo, sizeof(ts), t.mem.Alloc(sizeof(ts))};
  ASSERT_EQ(t.Call(kPanthorIoctlDevQuery, &q), 0);
  t.mem.Read(q.pointer, &ts, sizeof(ts));
  EXPECT_EQ(ts.timestamp_frequency, 24'000'000u);
  EXPECT_EQ(ts.current_timestamp, 48'000'000u);
  EXPECT_EQ(ts.timestamp_offset, 0u);
}

TEST(DevQueryTest, GroupPrioritiesDependOnCapabilityAndMaster) {
  auto mask = [](TestDevice& t, File* f) {
    PanthorGroupPrioritiesInfo p{};
    PanthorDevQuery q{kPanthorDevQueryGroupPrioritiesInfo, 4, t.mem.Alloc(4)};
    EXPECT_EQ(t.Call(kPanthorIoctlDevQuery, &q, f), 0);
    t.mem.Read(q.pointer, &p, sizeof(p));
    return p.allowed_mask;
  };
  TestDevice t;
  EXPECT_EQ(mask(t, t.file), 0x3) << "LOW and MEDIUM";
  File* nice = t.dev.Open(NodeType::kRender, &t.mem, Credentials{true, false});
  EXPECT_EQ(mask(t, nice), 0xf);
  File* master = t.dev.Open(NodeType::kPrimary, &t.mem);
  EXPECT_EQ(mask(t, master), 0xf);
  File* not_master = t.dev.Open(NodeType::kPrimary, &t.mem);
  EXPECT_EQ(mask(t, not_master), 0x3);
}

}  // namespace
}  // namespace faultlab::dev
