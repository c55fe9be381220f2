// Engine A throughput (./lab bench): BO create + close, DEV_QUERY round trips,
// and the memory cost of sparse population.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdio>

#include "engine/dev/test_util.h"
#include "engine/gpu/job.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {
namespace {

using namespace uapi;  // NOLINT

void BM_BoCreateClose(benchmark::State& state) {
  testing::TestDevice t;
  const uint64_t create = t.mem.Alloc(sizeof(PanthorBoCreate));
  const uint64_t close = t.mem.Alloc(sizeof(DrmGemClose));
  const uint32_t flags = state.range(0) ? kPanthorBoAllocOnFault : 0;
  for (auto _ : state) {
    PanthorBoCreate a{};
    a.size = 1 << 20;
    a.flags = flags;
    a.alloc_on_fault_granularity = flags ? 65536 : 0;
    t.mem.Put(create, a);
    if (t.dev.Ioctl(t.file, kPanthorIoctlBoCreate, create) != 0) state.SkipWithError("create");
    DrmGemClose c{t.mem.Get<PanthorBoCreate>(create).handle, 0};
    t.mem.Put(close, c);
    if (t.dev.Ioctl(t.file, kDrmIoctlGemClose, close) != 0) state.SkipWithError("close");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(flags ? "alloc-on-fault" : "regular");
}
BENCHMARK(BM_BoCreateClose)->Arg(0)->Arg(1);

void BM_DevQuery(benchmark::State& state) {
  testing::TestDevice t;
  const uint64_t arg = t.mem.Alloc(sizeof(PanthorDevQuery));
  const uint64_t buf = t.mem.Alloc(sizeof(PanthorGpuInfo));
  const PanthorDevQuery q{static_cast<uint32_t>(state.range(0)), 104, buf};
  for (auto _ : state) {
    t.mem.Put(arg, q);
    if (t.dev.Ioctl(t.file, kPanthorIoctlDevQuery, arg) != 0) state.SkipWithError("query");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DevQuery)->Arg(kPanthorDevQueryGpuInfo)->Arg(kPanthorDevQueryTimestampInfo);

// Resident set size now, KiB (/proc/self/statm).
long RssKib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * 4;
}

long MaxRssKib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// 64 GiB of alloc-on-fault BOs (64 x 1 GiB, 64 KiB granules) with 1 GiB
// populated by population calls (16 MiB per BO), no content writes.
void BM_SparsePopulate64GiB(benchmark::State& state) {
  for (auto _ : state) {
    const long before = MaxRssKib();
    DeviceConfig c = testing::Config();
    c.budget_bytes = 8ULL << 30;
    testing::TestDevice t(c);
    for (int i = 0; i < 64; ++i) {
      const uint32_t h = t.CreateBo(1ULL << 30, kPanthorBoAllocOnFault, 65536);
      std::shared_ptr<gem::Bo> bo = t.dev.LookupBo(t.file, h);
      gem::PopulateStats st;
      for (uint64_t g = 0; g < 256; ++g) {  // 256 granules x 64 KiB = 16 MiB, spread out
        const uint64_t page = g * 1024;     // one granule every 4 MiB
        if (bo->sparse()->PopulateRange(bo->pages(), page, 16, mem::AllocClass::kNoretry,
                                        mem::AllocClass::kNoretry, &st) != 0) {
          state.SkipWithError("populate");
        }
      }
    }
    state.counters["populated_MiB"] =
        static_cast<double>(t.dev.memory().owned_pages(mem::Owner::kBoPage)) * 4096 / (1 << 20);
    state.counters["metadata_KiB"] = static_cast<double>(t.dev.memory().metadata_bytes()) / 1024;
    state.counters["host_rss_growth_MiB"] = static_cast<double>(MaxRssKib() - before) / 1024;
    state.counters["host_max_rss_MiB"] = static_cast<double>(MaxRssKib()) / 1024;
  }
}
BENCHMARK(BM_SparsePopulate64GiB)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace faultlab::dev

namespace faultlab::dev {
namespace {

// VM_BIND MAP + UNMAP of 64 KiB ranges (sync), through the ioctl path: one
// item is one op (so a map+unmap pair counts 2).
void BM_VmBindMapUnmap64K(benchmark::State& state) {
  testing::TestDevice t;
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(64 << 10);
  const PanthorVmBindOp map = testing::TestDevice::MapOp(bo, 0, 0x100000, 64 << 10);
  const PanthorVmBindOp unmap = testing::TestDevice::UnmapOp(0x100000, 64 << 10);
  const uint64_t map_at = t.Place(&map, sizeof(map));
  const uint64_t unmap_at = t.Place(&unmap, sizeof(unmap));
  const uint64_t arg = t.mem.Alloc(sizeof(PanthorVmBind));
  const PanthorVmBind bm{vm, 0, {sizeof(PanthorVmBindOp), 1, map_at}};
  const PanthorVmBind bu{vm, 0, {sizeof(PanthorVmBindOp), 1, unmap_at}};
  for (auto _ : state) {
    t.mem.Put(arg, bm);
    if (t.dev.Ioctl(t.file, kPanthorIoctlVmBind, arg) != 0) state.SkipWithError("map");
    t.mem.Put(arg, bu);
    if (t.dev.Ioctl(t.file, kPanthorIoctlVmBind, arg) != 0) state.SkipWithError("unmap");
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_VmBindMapUnmap64K);

// 64 GiB of sparse (alloc-on-fault) VA plus 1 GiB mapped: 64 x 1 GiB
// alloc-on-fault VMAs (no PTEs until faults) and 64 regular 16 MiB BOs mapped
// 2 GiB apart. Reports the page-table pages and the host memory it costs.
void BM_SparseVa64GiB(benchmark::State& state) {
  for (auto _ : state) {
    const long before = RssKib();
    testing::TestDevice t;
    const uint32_t vm = t.CreateVm();
    for (int i = 0; i < 64; ++i) {
      const uint32_t dense = t.CreateBo(16 << 20);
      const uint32_t sparse = t.CreateBo(1ULL << 30, kPanthorBoAllocOnFault, 2 << 20);
      const uint64_t va = 0x10'0000'0000ULL + (static_cast<uint64_t>(i) << 31);
      if (t.Bind(vm, {testing::TestDevice::MapOp(dense, 0, va, 16 << 20),
                      testing::TestDevice::MapOp(sparse, 0, va + (1ULL << 30), 1ULL << 30)}) != 0) {
        state.SkipWithError("bind");
      }
    }
    std::shared_ptr<vm::Vm> v = t.dev.LookupVm(t.file, vm);
    state.counters["table_pages"] = static_cast<double>(v->page_table().table_pages());
    state.counters["pt_MiB"] = static_cast<double>(v->page_table().table_pages()) * 4 / 1024;
    state.counters["host_rss_growth_MiB"] = static_cast<double>(RssKib() - before) / 1024;
  }
}
BENCHMARK(BM_SparseVa64GiB)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace faultlab::dev

namespace faultlab::dev {
namespace {

// Handled faults per second, the whole path: GPU miss, IRQ, fault work,
// population, mapping, clear and resume (series-fixed, noretry, no pressure).
// Each iteration runs one job touching `faults` fresh granules.
void BM_HandledFaults(benchmark::State& state) {
  const uint64_t gran = static_cast<uint64_t>(state.range(0));
  const uint64_t faults = gran == 4096 ? 4096 : 64;
  uint64_t total = 0;
  for (auto _ : state) {
    state.PauseTiming();
    DeviceConfig cfg = testing::Config();
    if (gran >= (2u << 20)) cfg.thp = mem::ThpMode::kWithinSize;
    testing::TestDevice t(cfg);
    const uint32_t vm = t.CreateVm();
    const uint32_t bo =
        t.CreateBo(faults * gran, kPanthorBoAllocOnFault, static_cast<uint32_t>(gran));
    t.Bind(vm, {testing::TestDevice::MapOp(bo, 0, 0x40000000, faults * gran)});
    PanthorQueueCreate q{0, {0, 0, 0}, 16 * 1024};
    PanthorGroupCreate gc{};
    gc.queues = {sizeof(q), 1, t.Place(&q, sizeof(q))};
    gc.compute_core_mask = gc.fragment_core_mask = gc.tiler_core_mask = 1;
    gc.vm_id = vm;
    t.Call(kPanthorIoctlGroupCreate, &gc);
    std::vector<gpu::GpuAccess> acc;
    for (uint64_t i = 0; i < faults; ++i) {
      acc.push_back(gpu::GpuAccess{0x40000000 + i * gran, 4, 0, trace::ACCESS_WRITE});
    }
    t.dev.SubmitAccessJob(t.file, gc.group_handle, 0, std::move(acc), 0, nullptr);
    state.ResumeTiming();
    t.dev.RunAll();
    state.PauseTiming();
    if (t.dev.stats().faults_handled != faults) state.SkipWithError("faults not handled");
    total += faults;
    state.counters["virtual_ms_per_fault_x1000"] =
        static_cast<double>(t.dev.now_ns()) / static_cast<double>(faults) / 1000.0;
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(total));
}
BENCHMARK(BM_HandledFaults)->Arg(4096)->Arg(2 << 20)->Unit(benchmark::kMillisecond);

// Engine memory follows populated memory, not VA size: 64 MiB populated by
// faults in a 1 GiB and in a 64 GiB alloc-on-fault mapping.
void BM_MemoryFollowsPopulated(benchmark::State& state) {
  const uint64_t va = static_cast<uint64_t>(state.range(0)) << 30;
  for (auto _ : state) {
    const long before = RssKib();
    DeviceConfig cfg = testing::Config();
    testing::TestDevice t(cfg);
    const uint32_t vm = t.CreateVm();
    const uint32_t bo = t.CreateBo(va, kPanthorBoAllocOnFault, 64 << 10);
    t.Bind(vm, {testing::TestDevice::MapOp(bo, 0, 0x100000000ULL, va)});
    PanthorQueueCreate q{0, {0, 0, 0}, 16 * 1024};
    PanthorGroupCreate gc{};
    gc.queues = {sizeof(q), 1, t.Place(&q, sizeof(q))};
    gc.compute_core_mask = gc.fragment_core_mask = gc.tiler_core_mask = 1;
    gc.vm_id = vm;
    t.Call(kPanthorIoctlGroupCreate, &gc);
    std::vector<gpu::GpuAccess> acc;
    const uint64_t stride = va / 1024;  // 1024 granules of 64 KiB spread over the VA
    for (uint64_t i = 0; i < 1024; ++i) {
      acc.push_back(gpu::GpuAccess{0x100000000ULL + i * stride, 4, 0, trace::ACCESS_WRITE});
    }
    t.dev.SubmitAccessJob(t.file, gc.group_handle, 0, std::move(acc), 0, nullptr);
    t.dev.RunAll();
    state.counters["populated_MiB"] =
        static_cast<double>(t.dev.memory().owned_pages(mem::Owner::kBoPage)) * 4096 / (1 << 20);
    state.counters["host_rss_growth_MiB"] = static_cast<double>(RssKib() - before) / 1024;
  }
}
BENCHMARK(BM_MemoryFollowsPopulated)->Arg(1)->Arg(64)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace faultlab::dev
