// Every case of drm_gpuvm's "Split and Merge" documentation (drm_gpuvm.c),
// as one table: the existing mappings, the request, the kernel's op list.
#include "engine/vm/va_space.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/uapi/panthor.h"

namespace faultlab::vm {
namespace {

constexpr uint64_t P = 0x1000;  // one page, the unit of the diagrams

class VaSpaceTest : public ::testing::Test {
 protected:
  mem::MemoryModel mem_{mem::MemoryConfig{64ULL << 20, mem::ThpMode::kNever}};
  std::shared_ptr<gem::Bo> obj_ = std::make_shared<gem::Bo>(&mem_, 1, 64 * P, 0, 0, 0);
  std::shared_ptr<gem::Bo> other_ = std::make_shared<gem::Bo>(&mem_, 2, 64 * P, 0, 0, 0);
};

struct Existing {
  uint64_t addr, range;
  bool other_obj;
  uint64_t offset;
};

struct MapCase {
  const char* name;
  std::vector<Existing> existing;
  uint64_t req_addr, req_range;
  bool req_other;
  uint64_t req_offset;
  // Expected ops, written with obj = nullptr meaning "obj_" and a flag for "other_".
  std::vector<std::string> ops;
};

std::string Describe(const GpuvaOp& op, const gem::Bo* obj) {
  auto m = [&](const OpMap& x) {
    return std::to_string(x.addr / P) + "+" + std::to_string(x.range / P) +
           (x.obj == obj ? "" : "'") + "@" + std::to_string(x.offset / P);
  };
  switch (op.kind) {
    case GpuvaOp::kMap:
      return "map " + m(op.map);
    case GpuvaOp::kUnmap:
      return "unmap " + std::to_string(op.va / P) + (op.keep ? " keep" : "");
    case GpuvaOp::kRemap:
      return "remap " + std::to_string(op.va / P) + (op.keep ? " keep" : "") +
             " prev=" + (op.has_prev ? m(op.prev) : "-") +
             " next=" + (op.has_next ? m(op.next) : "-");
  }
  return "?";
}

TEST_F(VaSpaceTest, SplitAndMergeCasesOfTheKernelDoc) {
  // Notation: "addr+range@offset" in pages; a quote marks the other BO.
  const MapCase cases[] = {
      {"1: identical request", {{0, 4, false, 0}}, 0, 4, false, 0, {"unmap 0 keep", "map 0+4@0"}},
      {"2: same range, other BO", {{0, 4, false, 0}}, 0, 4, true, 0, {"unmap 0", "map 0+4'@0"}},
      {"3: same range and BO, other offset",
       {{0, 4, false, 0}},
       0,
       4,
       false,
       2,
       {"unmap 0", "map 0+4@2"}},
      {"4: existing is a left-aligned subset",
       {{0, 2, false, 0}},
       0,
       4,
       false,
       0,
       {"unmap 0 keep", "map 0+4@0"}},
      {"5: request is a left-aligned subset",
       {{0, 4, false, 0}},
       0,
       2,
       false,
       0,
       {"remap 0 keep prev=- next=2+2@2", "map 0+2@0"}},
      {"5b: ... of another BO",
       {{0, 4, false, 0}},
       0,
       2,
       true,
       0,
       {"remap 0 prev=- next=2+2@2", "map 0+2'@0"}},
      {"6: existing is a right-aligned subset",
       {{2, 2, false, 2}},
       0,
       4,
       false,
       0,
       {"unmap 2 keep", "map 0+4@0"}},
      {"7: request is a right-aligned subset",
       {{0, 4, false, 0}},
       2,
       2,
       false,
       2,
       {"remap 0 keep prev=0+2@0 next=-", "map 2+2@2"}},
      {"7b: ... with a non-matching offset",
       {{0, 4, false, 0}},
       2,
       2,
       false,
       7,
       {"remap 0 prev=0+2@0 next=-", "map 2+2@7"}},
      {"8: existing is an inner subset",
       {{1, 2, false, 1}},
       0,
       4,
       false,
       0,
       {"unmap 1 keep", "map 0+4@0"}},
      {"9: request is an inner subset",
       {{0, 4, false, 0}},
       1,
       2,
       false,
       1,
       {"remap 0 keep prev=0+1@0 next=3+1@3", "map 1+2@1"}},
      {"10: request overlaps the end",
       {{0, 3, false, 0}},
       2,
       3,
       false,
       2,
       {"remap 0 keep prev=0+2@0 next=-", "map 2+3@2"}},
      {"11: request overlaps the start",
       {{2, 3, false, 0}},
       0,
       3,
       false,
       0,
       {"remap 2 prev=- next=3+2@1", "map 0+3@0"}},
      {"12: request spans several",
       {{0, 2, false, 0}, {2, 2, true, 0}},
       0,
       4,
       false,
       0,
       {"unmap 0 keep", "unmap 2", "map 0+4@0"}},
      {"13: request spans the tail of one and the head of the next",
       {{0, 3, false, 0}, {3, 3, true, 0}},
       2,
       2,
       false,
       9,
       {"remap 0 prev=0+2@0 next=-", "remap 3 prev=- next=4+2'@1", "map 2+2@9"}},
      {"14: empty space", {}, 4, 2, false, 0, {"map 4+2@0"}},
      {"15: adjacent, not overlapping", {{0, 2, false, 0}}, 2, 2, false, 2, {"map 2+2@2"}},
  };
  for (const MapCase& c : cases) {
    VaSpace vas(0, 1ULL << 48);
    for (const Existing& e : c.existing) {
      vas.Insert(Vma{e.addr * P, e.range * P, e.other_obj ? other_ : obj_, e.offset * P, 0});
    }
    std::vector<GpuvaOp> ops = vas.SmMapOps(
        c.req_addr * P, c.req_range * P, c.req_other ? other_.get() : obj_.get(), c.req_offset * P);
    std::vector<std::string> got;
    for (const GpuvaOp& op : ops) got.push_back(Describe(op, obj_.get()));
    EXPECT_EQ(got, c.ops) << c.name;
    EXPECT_EQ(ops.back().kind, GpuvaOp::kMap) << c.name << ": always ends with one MAP";
    int remaps = 0;
    for (const GpuvaOp& op : ops) remaps += op.kind == GpuvaOp::kRemap;
    EXPECT_LE(remaps, 2) << c.name;
  }
}

TEST_F(VaSpaceTest, UnmapCases) {
  struct UnmapCase {
    const char* name;
    std::vector<Existing> existing;
    uint64_t addr, range;
    std::vector<std::string> ops;
  };
  const UnmapCase cases[] = {
      {"whole", {{0, 4, false, 0}}, 0, 4, {"unmap 0"}},
      {"head", {{0, 4, false, 0}}, 0, 1, {"remap 0 prev=- next=1+3@1"}},
      {"tail", {{0, 4, false, 0}}, 3, 1, {"remap 0 prev=0+3@0 next=-"}},
      {"middle", {{0, 4, false, 0}}, 1, 2, {"remap 0 prev=0+1@0 next=3+1@3"}},
      {"across two",
       {{0, 2, false, 0}, {2, 2, false, 2}},
       1,
       2,
       {"remap 0 prev=0+1@0 next=-", "remap 2 prev=- next=3+1@3"}},
      {"superset of several", {{1, 1, false, 0}, {3, 1, true, 0}}, 0, 8, {"unmap 1", "unmap 3"}},
      {"nothing there", {{0, 1, false, 0}}, 4, 4, {}},
  };
  for (const UnmapCase& c : cases) {
    VaSpace vas(0, 1ULL << 48);
    for (const Existing& e : c.existing) {
      vas.Insert(Vma{e.addr * P, e.range * P, e.other_obj ? other_ : obj_, e.offset * P, 0});
    }
    std::vector<std::string> got;
    for (const GpuvaOp& op : vas.SmUnmapOps(c.addr * P, c.range * P)) {
      got.push_back(Describe(op, obj_.get()));
    }
    EXPECT_EQ(got, c.ops) << c.name;
  }
}

TEST_F(VaSpaceTest, RangeValidity) {
  VaSpace vas(0, 1ULL << 48);
  EXPECT_TRUE(vas.RangeValid(0, 1ULL << 48));
  EXPECT_FALSE(vas.RangeValid(1ULL << 48, P));
  EXPECT_FALSE(vas.RangeValid((1ULL << 48) - P, 2 * P));
  EXPECT_FALSE(vas.RangeValid(~0ULL - P + 1, 2 * P)) << "overflow";
}

TEST_F(VaSpaceTest, FindFirstIntersecting) {
  VaSpace vas(0, 1ULL << 48);
  vas.Insert(Vma{2 * P, 2 * P, obj_, 0, 0});
  EXPECT_EQ(vas.FindFirst(3 * P, 1), vas.Find(2 * P));
  EXPECT_EQ(vas.FindFirst(0, 2 * P), nullptr);
  EXPECT_EQ(vas.FindFirst(0, 2 * P + 1), vas.Find(2 * P));
  EXPECT_EQ(vas.FindFirst(4 * P, P), nullptr);
}

}  // namespace
}  // namespace faultlab::vm
