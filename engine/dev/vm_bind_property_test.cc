// Property test: random MAP / UNMAP sequences (which split, remap and unmap
// existing mappings) against a page-granular reference model of the VA space
// (VA page -> BO, BO page). After every step the VA space must describe exactly
// the reference, every page-table leaf must lie inside a VMA and map the BO
// frame the reference names, and memory accounting must balance.
// >= 200 seeds per configuration in ./lab test, >= 20 000 in ./lab soak.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "engine/base/prng.h"
#include "engine/dev/test_util.h"
#include "engine/uapi/panthor.h"
#include "engine/vm/vm.h"

namespace faultlab::dev {
namespace {

using namespace uapi;  // NOLINT
using testing::TestDevice;

constexpr uint64_t kPage = 4096;
constexpr uint64_t kBase = 0x4000'0000;   // 1 GiB aligned
constexpr uint64_t kWindow = 4ULL << 20;  // 4 MiB: two 2 MiB blocks, ops collide

bool Soak() {
  const char* t = std::getenv("FAULTLAB_TIER");
  return t != nullptr && std::string(t) == "soak";
}

struct Ref {
  uint32_t handle;
  uint64_t bo_page;
};

void RunSeed(uint64_t seed, mem::ThpMode thp) {
  Prng prng(seed);
  DeviceConfig cfg = testing::Config(Variant::kSeriesFixed);
  cfg.thp = thp;
  cfg.budget_bytes = 256ULL << 20;  // small: invariant checks walk every block
  TestDevice t(cfg);
  const uint32_t vm_id = t.CreateVm();
  std::shared_ptr<vm::Vm> vm = t.dev.LookupVm(t.file, vm_id);
  // Regular BOs (one 4 MiB so huge folios and blocks appear) and a sparse one.
  const std::vector<uint64_t> sizes = {64 << 10, 1 << 20, 4 << 20};
  std::vector<uint32_t> bos;
  for (uint64_t s : sizes) bos.push_back(t.CreateBo(s));
  const uint32_t sparse = t.CreateBo(4 << 20, kPanthorBoAllocOnFault, 64 << 10);
  bos.push_back(sparse);
  std::map<uint32_t, std::shared_ptr<gem::Bo>> by_handle;
  for (uint32_t h : bos) by_handle[h] = t.dev.LookupBo(t.file, h);
  std::map<uint64_t, Ref> ref;  // VA page -> BO page

  const int steps = 40;
  for (int step = 0; step < steps; ++step) {
    const bool map = prng.Chance(2, 3);
    int ret;
    if (map) {
      const size_t which = prng.Uniform(bos.size());
      const uint32_t h = bos[which];
      const uint64_t bo_size = by_handle[h]->size_bytes();
      // Often 2 MiB aligned, so that blocks and their partial unmaps happen.
      const bool aligned = prng.Chance(1, 3) && bo_size >= (2u << 20);
      const uint64_t unit = aligned ? (2u << 20) : kPage;
      const uint64_t offset = prng.Uniform(bo_size / unit) * unit;
      const uint64_t max = std::min(bo_size - offset, kWindow);
      const uint64_t size = (1 + prng.Uniform(max / unit)) * unit;
      const uint64_t va =
          kBase + prng.Uniform((kWindow - std::min(size, kWindow)) / unit + 1) * unit;
      if (va + size > kBase + kWindow) continue;
      const uint32_t flags = prng.Chance(1, 4) ? kPanthorVmBindOpMapReadonly : 0;
      ret = t.Bind(vm_id, {TestDevice::MapOp(h, offset, va, size, flags)});
      if (ret == 0) {
        for (uint64_t off = 0; off < size; off += kPage)
          ref[va + off] = Ref{h, (offset + off) / kPage};
      }
    } else {
      const uint64_t va = kBase + prng.Uniform(kWindow / kPage) * kPage;
      const uint64_t size = (1 + prng.Uniform((kBase + kWindow - va) / kPage)) * kPage;
      ret = t.Bind(vm_id, {TestDevice::UnmapOp(va, size)});
      if (ret == 0) ref.erase(ref.lower_bound(va), ref.lower_bound(va + size));
    }
    ASSERT_EQ(ret, 0) << "seed " << seed << " step " << step << (map ? " map" : " unmap")
                      << " exhausted=" << vm->stats().pt_reservation_exhausted;

    // The VA space describes exactly the reference.
    uint64_t pages = 0;
    for (const auto& [addr, v] : vm->va_space().vmas()) {
      for (uint64_t off = 0; off < v.range; off += kPage) {
        auto it = ref.find(addr + off);
        ASSERT_NE(it, ref.end()) << "VMA page not in the model, seed " << seed << " step " << step;
        ASSERT_EQ(by_handle[it->second.handle], v.bo) << "seed " << seed;
        ASSERT_EQ(it->second.bo_page, (v.bo_offset + off) / kPage) << "seed " << seed;
      }
      pages += v.range / kPage;
    }
    ASSERT_EQ(pages, ref.size()) << "seed " << seed << " step " << step;
    // Regular pages translate to their BO frame; sparse ones to nothing yet.
    for (const auto& [va, r] : ref) {
      const uint64_t phys = vm->page_table().IovaToPhys(va);
      if (r.handle == sparse) {
        ASSERT_EQ(phys, 0u) << "seed " << seed;
      } else {
        const uint32_t frame = by_handle[r.handle]->pages().FrameOf(r.bo_page);
        ASSERT_EQ(phys, vm::PhysOf(frame))
            << "seed " << seed << " step " << step << " va 0x" << std::hex << va;
      }
    }
    ASSERT_EQ(vm->CheckInvariants(), "") << "seed " << seed << " step " << step;
    ASSERT_EQ(t.dev.CheckInvariants(), "") << "seed " << seed << " step " << step;
  }
  // Destroying the VM gives every page-table page back but the root's.
  const uint64_t vmas_before = vm->va_space().size();
  PanthorVmDestroy d{vm_id, 0};
  ASSERT_EQ(t.Call(kPanthorIoctlVmDestroy, &d), 0);
  ASSERT_EQ(vm->va_space().size(), 0u) << vmas_before;
}

TEST(VmBindPropertyTest, RandomSequencesMatchTheReference) {
  const uint64_t seeds = Soak() ? 20000 : 200;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    RunSeed(seed, mem::ThpMode::kNever);
    if (HasFatalFailure()) return;
  }
}

TEST(VmBindPropertyTest, RandomSequencesWithHugePagesMatchTheReference) {
  const uint64_t seeds = Soak() ? 20000 : 200;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    RunSeed(seed, mem::ThpMode::kWithinSize);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace faultlab::dev
