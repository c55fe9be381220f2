// Interleaving exploration: several VMs, groups and bind queues on the
// scheduler, with seeded costs and choices, and the races the fault path must
// survive — an unmap racing a fault on the same range, AS eviction racing fault
// work (two user slots for four VMs), a VM destroyed with fault work queued, a
// bind while a job is stalled. After every step the invariants must hold
// (nothing mapped outside a VMA, every frame owned once, accounting balanced,
// slots consistent); at the end every job has ended and every fault was
// resolved or reported. >= 200 seeds in ./lab test, >= 20 000 in ./lab soak.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/base/prng.h"
#include "engine/dev/test_util.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {
namespace {

using namespace uapi;  // NOLINT
using testing::TestDevice;

constexpr uint64_t K = 1024;
constexpr uint64_t M = 1024 * 1024;
constexpr uint64_t kSparseVa = 0x1000'0000;
constexpr uint64_t kDenseVa = 0x2000'0000;

bool Soak() {
  const char* t = std::getenv("FAULTLAB_TIER");
  return t != nullptr && std::string(t) == "soak";
}

class Counter : public events::Observer {
 public:
  void OnEvent(const trace::Event& e) override { faults += e.kind == trace::EVENT_MMU_FAULT; }
  uint64_t faults = 0;
};

struct VmSetup {
  uint32_t id = 0;
  uint32_t sparse_bo = 0;
  uint32_t dense_bo = 0;
  std::vector<uint32_t> groups;
  bool destroyed = false;
};

// What the seeds covered, summed: the exploration must actually reach the races.
struct Coverage {
  uint64_t faults = 0, handled = 0, failed = 0, degraded = 0, evictions = 0, destroyed = 0,
           async_unmaps = 0, oopses = 0, recycled = 0, missed_ticks = 0;
};

void RunSeed(uint64_t seed, Coverage* cov) {
  Prng prng(seed);
  DeviceConfig cfg =
      testing::Config(prng.Chance(1, 2) ? Variant::kSeriesFixed : Variant::kSeriesV3);
  cfg.seed = seed;
  cfg.budget_bytes = 96 * M;
  cfg.profile.gpu_info.as_present = 0x7;  // AS0 for firmware + two user slots: evictions
  const char* policies[] = {"noretry", "nowait", "pool:32", "dummy-page"};
  cfg.policy = policies[prng.Uniform(4)];
  cfg.pressure.enabled = prng.Chance(1, 2);
  cfg.pressure.tenant_min_permille = 800;
  cfg.pressure.tenant_max_permille = 1000;
  cfg.pressure.fail_permille = static_cast<uint32_t>(prng.Uniform(300));
  if (prng.Chance(1, 3)) cfg.thp = mem::ThpMode::kWithinSize;
  TestDevice t(cfg);
  Counter counter;
  t.dev.set_observer(&counter);
  const std::string ctx =
      "seed " + std::to_string(seed) + " " + VariantName(cfg.variant) + " " + cfg.policy;

  std::vector<VmSetup> vms(4);
  for (VmSetup& v : vms) {
    v.id = t.CreateVm();
    const uint32_t gran = prng.Chance(1, 2) ? 4 * K : 64 * K;
    v.sparse_bo = t.CreateBo(4 * M, kPanthorBoAllocOnFault, gran);
    v.dense_bo = t.CreateBo(256 * K);
    ASSERT_EQ(t.Bind(v.id, {TestDevice::MapOp(v.sparse_bo, 0, kSparseVa, 4 * M),
                            TestDevice::MapOp(v.dense_bo, 0, kDenseVa, 256 * K)}),
              0)
        << ctx;
    for (int g = 0; g < 2; ++g) {
      PanthorQueueCreate q{0, {0, 0, 0}, 16 * 1024};
      PanthorGroupCreate gc{};
      gc.queues = {sizeof(q), 1, t.Place(&q, sizeof(q))};
      gc.compute_core_mask = 1;
      gc.fragment_core_mask = 1;
      gc.tiler_core_mask = 1;
      gc.vm_id = v.id;
      ASSERT_EQ(t.Call(kPanthorIoctlGroupCreate, &gc), 0) << ctx;
      v.groups.push_back(gc.group_handle);
    }
  }
  DrmSyncobjCreate sc{0, kDrmSyncobjCreateSignaled};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjCreate, &sc), 0);

  const int steps = 30;
  for (int step = 0; step < steps; ++step) {
    VmSetup& v = vms[prng.Uniform(vms.size())];
    switch (prng.Uniform(6)) {
      case 0:
      case 1: {  // a job touching sparse (faults), dense and sometimes unmapped memory
        std::vector<gpu::GpuAccess> acc;
        const int n = 1 + static_cast<int>(prng.Uniform(4));
        for (int i = 0; i < n; ++i) {
          const uint64_t r = prng.Uniform(10);
          const uint64_t va = r < 7   ? kSparseVa + prng.Uniform(4 * M / 4096) * 4096
                              : r < 9 ? kDenseVa + prng.Uniform(64) * 4096
                                      : 0x3000'0000;  // nothing there
          acc.push_back(
              gpu::GpuAccess{va, 4096 * (1 + prng.Uniform(4)), 0,
                             prng.Chance(1, 2) ? trace::ACCESS_WRITE : trace::ACCESS_READ});
        }
        const uint32_t g = v.groups[prng.Uniform(v.groups.size())];
        const int ret = t.dev.SubmitAccessJob(t.file, g, 0, acc, 0, nullptr);
        ASSERT_TRUE(ret == 0 || ret == -kEINVAL) << ctx;  // -EINVAL: a dead group
        break;
      }
      case 2: {  // async unmap of part of the sparse VMA: races faults on it
        if (v.destroyed) break;
        const uint64_t off = prng.Uniform(64) * 64 * K;
        PanthorVmBindOp op = TestDevice::UnmapOp(kSparseVa + off, 64 * K);
        PanthorSyncOp sig{kPanthorSyncOpSignal, sc.handle, 0};
        op.syncs = {sizeof(sig), 1, t.Place(&sig, sizeof(sig))};
        const int ret = t.Bind(v.id, {op}, kPanthorVmBindAsync);
        ASSERT_TRUE(ret == 0 || ret == -kEINVAL) << ctx;  // -EINVAL: an unusable VM
        cov->async_unmaps += ret == 0;
        break;
      }
      case 3: {  // a sync bind while jobs may be stalled: re-map a sparse window
        if (v.destroyed) break;
        const uint64_t off = prng.Uniform(32) * 128 * K;
        t.Bind(v.id, {TestDevice::UnmapOp(kSparseVa + off, 128 * K),
                      TestDevice::MapOp(v.sparse_bo, off, kSparseVa + off, 128 * K)});
        break;
      }
      case 4: {  // let virtual time pass
        const uint64_t until = t.dev.now_ns() + prng.Range(1'000, 200'000);
        t.dev.scheduler().RunUntil([] { return false; }, until);
        break;
      }
      default: {  // rarely: destroy a VM, possibly with fault work queued
        if (v.destroyed || !prng.Chance(1, 4)) break;
        PanthorVmDestroy d{v.id, 0};
        ASSERT_EQ(t.Call(kPanthorIoctlVmDestroy, &d), 0) << ctx;
        v.destroyed = true;
        ++cov->destroyed;
        break;
      }
    }
    ASSERT_EQ(t.dev.CheckInvariants(), "") << ctx << " step " << step;
  }
  t.dev.RunAll();
  ASSERT_EQ(t.dev.CheckInvariants(), "") << ctx << " at the end";
  const DeviceStats& s = t.dev.stats();
  EXPECT_EQ(s.jobs_submitted, s.jobs_completed + s.jobs_failed) << ctx << ": a job never ended";
  EXPECT_EQ(s.faults, counter.faults) << ctx << ": a fault was neither resolved nor reported";
  EXPECT_EQ(s.faults, s.faults_handled + s.faults_degraded + s.faults_failed) << ctx;
  cov->faults += s.faults;
  cov->handled += s.faults_handled;
  cov->failed += s.faults_failed;
  cov->degraded += s.faults_degraded;
  cov->evictions += t.dev.mmu().evictions();
  cov->oopses += t.dev.oopses().size();
  cov->recycled += s.recycled_slot_irqs;
  cov->missed_ticks += s.v3_tick_missed_fault;
  // A fault bit left latched belongs to an AS that was disabled (reported).
  for (int as = 1; as < 3; ++as) {
    if (t.dev.mmu().rawstat() & (1u << as)) {
      EXPECT_FALSE(t.dev.mmu().Enabled(as)) << ctx << ": AS" << as << " latched and enabled";
    }
  }
}

TEST(InterleavingTest, SeedsExploreLegalOrdersWithInvariantsAfterEveryStep) {
  const uint64_t seeds = Soak() ? 20000 : 200;
  Coverage cov;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    RunSeed(seed, &cov);
    if (HasFatalFailure() || HasNonfatalFailure()) {
      ADD_FAILURE() << "re-run with this seed: " << seed;
      return;
    }
  }
  EXPECT_GT(cov.handled, 0u);
  EXPECT_GT(cov.failed, 0u);
  EXPECT_GT(cov.degraded, 0u);
  EXPECT_GT(cov.evictions, 0u) << "AS eviction never raced anything";
  EXPECT_GT(cov.destroyed, 0u);
  EXPECT_GT(cov.async_unmaps, 0u);
  EXPECT_GT(cov.oopses, 0u) << "series-v3's defects never fired";
  EXPECT_GT(cov.missed_ticks, 0u) << "the v3 tick race never went the other way";
  std::printf(
      "coverage: faults=%lu handled=%lu failed=%lu degraded=%lu evictions=%lu "
      "destroyed=%lu async_unmaps=%lu oopses=%lu recycled=%lu missed_ticks=%lu\n",
      static_cast<unsigned long>(cov.faults), static_cast<unsigned long>(cov.handled),
      static_cast<unsigned long>(cov.failed), static_cast<unsigned long>(cov.degraded),
      static_cast<unsigned long>(cov.evictions), static_cast<unsigned long>(cov.destroyed),
      static_cast<unsigned long>(cov.async_unmaps), static_cast<unsigned long>(cov.oopses),
      static_cast<unsigned long>(cov.recycled), static_cast<unsigned long>(cov.missed_ticks));
}

}  // namespace
}  // namespace faultlab::dev
