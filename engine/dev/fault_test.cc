// Engine C: the fault path per variant x policy x granularity, groups and
// jobs, the MMU's slots, tiler heaps, memory pressure, determinism.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "engine/dev/test_util.h"
#include "engine/trace/event.h"
#include "engine/trace/io.h"
#include "engine/trace/writer.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {
namespace {

using namespace uapi;  // NOLINT
using testing::Config;
using testing::TestDevice;
constexpr uint64_t K = 1024;
constexpr uint64_t M = 1024 * 1024;
constexpr uint64_t kVa = 0x1000'0000;  // 2 MiB aligned

// Keeps every event, with its bytes.
class Capture : public events::Observer {
 public:
  void OnEvent(const trace::Event& e) override { events.push_back(arena.Own(e)); }
  std::vector<const trace::Event*> Of(trace::EventKind k) const {
    std::vector<const trace::Event*> out;
    for (const auto& e : events) {
      if (e.kind == k) out.push_back(&e);
    }
    return out;
  }
  // The whole stream as trace bytes (for byte-exact comparisons).
  std::string Bytes() const {
    std::string bytes;
    trace::StringSink sink(&bytes);
    trace::WriterOptions opts;
    opts.codec = trace::CODEC_NONE;
    trace::TraceWriter w(&sink, trace::TraceHeader(), opts);
    for (const auto& e : events) (void)w.Append(e);
    (void)w.Finish();
    return bytes;
  }
  trace::EventArena arena;
  std::vector<trace::Event> events;
};

uint32_t CreateGroup(TestDevice& t, uint32_t vm, uint32_t queues = 1, File* f = nullptr) {
  return t.CreateGroup(vm, queues, f);
}

// Submits a job and returns its completion fence through a new syncobj.
struct Submitted {
  uint32_t syncobj = 0;
  int ret = 0;
};

Submitted Submit(TestDevice& t, uint32_t group, std::vector<gpu::GpuAccess> accesses,
                 uint32_t queue = 0) {
  Submitted s;
  DrmSyncobjCreate c{0, 0};
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjCreate, &c), 0);
  s.syncobj = c.handle;
  s.ret = t.dev.SubmitAccessJob(t.file, group, queue, std::move(accesses), c.handle, nullptr);
  return s;
}

int WaitJob(TestDevice& t, uint32_t syncobj) {
  DrmSyncobjWait w{t.Place(&syncobj, 4), INT64_MAX, 1, 0, 0, 0};
  return t.Call(kDrmIoctlSyncobjWait, &w);
}

gpu::GpuAccess Write(uint64_t va, uint64_t len = 4) {
  return gpu::GpuAccess{va, len, 0, trace::ACCESS_WRITE};
}

TEST(FaultTest, OutcomePerVariantPolicyAndGranularity) {
  const char* policies[] = {"noretry", "nowait", "pool:64", "dummy-page"};
  for (Variant v : {Variant::kSeriesFixed, Variant::kSeriesV3}) {
    for (const char* pol : policies) {
      for (uint32_t gran : {4u * 1024, 64u * 1024, 2u * 1024 * 1024}) {
        DeviceConfig cfg = Config(v);
        cfg.policy = pol;
        TestDevice t(cfg);
        Capture cap;
        t.dev.set_observer(&cap);
        const std::string what =
            std::string(VariantName(v)) + " " + pol + " " + std::to_string(gran);
        const uint32_t vm = t.CreateVm();
        const uint32_t bo = t.CreateBo(4 * M, kPanthorBoAllocOnFault, gran);
        ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, kVa, 4 * M)}), 0) << what;
        const uint32_t g = CreateGroup(t, vm);
        ASSERT_NE(g, 0u) << what;
        const uint64_t target = kVa + 2 * M + 0x12340;  // inside the third 2 MiB
        Submitted s = Submit(t, g, {Write(target)});
        ASSERT_EQ(s.ret, 0) << what;
        t.dev.RunAll();
        auto faults = cap.Of(trace::EVENT_MMU_FAULT);
        ASSERT_EQ(faults.size(), 1u) << what;
        const trace::MmuFault& f = faults[0]->fault;
        EXPECT_EQ(f.address, target) << what;
        EXPECT_EQ(f.exception_type() & 0xf8, 0xc0u) << what << ": a translation fault";
        EXPECT_EQ(f.access_type(), mmu::kAccessWrite) << what;
        EXPECT_GT(f.latency_ns, 0u) << what;
        std::shared_ptr<gpu::Group> grp = t.dev.LookupGroup(t.file, g);
        std::shared_ptr<vm::Vm> vmp = t.dev.LookupVm(t.file, vm);
        if (v == Variant::kSeriesFixed) {
          EXPECT_EQ(f.outcome, trace::FAULT_HANDLED) << what;
          EXPECT_EQ(f.pages, gran / 4096) << what << ": exactly the granule's pages";
          const uint64_t gstart = target & ~(static_cast<uint64_t>(gran) - 1);
          EXPECT_NE(vmp->page_table().IovaToPhys(gstart), 0u) << what;
          EXPECT_NE(vmp->page_table().IovaToPhys(gstart + gran - 4096), 0u) << what;
          if (gstart > kVa) {
            EXPECT_EQ(vmp->page_table().IovaToPhys(gstart - 4096), 0u) << what;
          }
          EXPECT_EQ(vmp->page_table().IovaToPhys(gstart + gran), 0u) << what;
          EXPECT_EQ(WaitJob(t, s.syncobj), 0) << what;
          EXPECT_EQ(grp->state, 0u) << what;
          EXPECT_EQ(t.dev.stats().jobs_completed, 1u) << what;
          EXPECT_TRUE(t.dev.kernel_log().empty()) << what;
        } else {
          // The seed's granularity arithmetic rejects every fault (spec 1.4 (a)).
          EXPECT_EQ(f.outcome, trace::FAULT_EINVAL) << what;
          EXPECT_EQ(f.pages, 0u) << what;
          EXPECT_EQ(grp->state & kPanthorGroupStateFatalFault, kPanthorGroupStateFatalFault)
              << what;
          EXPECT_EQ(grp->state & kPanthorGroupStateInnocent, 0u) << what;
          EXPECT_EQ(t.dev.stats().jobs_failed, 1u) << what;
          ASSERT_EQ(t.dev.kernel_log().size(), 1u) << what;
          EXPECT_NE(
              t.dev.kernel_log()[0].find("Unhandled Page fault in AS1 at VA 0x0000000010212340"),
              std::string::npos)
              << what << t.dev.kernel_log()[0];
        }
        EXPECT_EQ(t.dev.CheckInvariants(), "") << what;
      }
    }
  }
}

TEST(FaultTest, HugeGranulesMapBlocksWithThp) {
  DeviceConfig cfg = Config(Variant::kSeriesFixed);
  cfg.thp = mem::ThpMode::kWithinSize;
  TestDevice t(cfg);
  Capture cap;
  t.dev.set_observer(&cap);
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(8 * M, kPanthorBoAllocOnFault, 2 * M);
  ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, kVa, 8 * M)}), 0);
  const uint32_t g = CreateGroup(t, vm);
  Submitted s = Submit(t, g, {Write(kVa + 4 * M + 100)});
  t.dev.RunAll();
  EXPECT_EQ(WaitJob(t, s.syncobj), 0);
  const pgtable::Walk w = t.dev.LookupVm(t.file, vm)->page_table().Translate(kVa + 4 * M);
  EXPECT_TRUE(w.mapped);
  EXPECT_EQ(w.level, 2) << "a 2 MiB granule over a huge folio maps one block";
  EXPECT_EQ(cap.Of(trace::EVENT_MMU_FAULT)[0]->fault.pages, 512u);
}

TEST(FaultTest, NonSparseMemoryIsEfaultAndEveryGroupOnTheVmDies) {
  TestDevice t;
  const uint32_t vm = t.CreateVm();
  const uint32_t other_vm = t.CreateVm();
  const uint32_t g = CreateGroup(t, vm, 2);
  const uint32_t g2 = CreateGroup(t, vm, 1);
  const uint32_t bystander = CreateGroup(t, other_vm, 1);
  const uint32_t bo = t.CreateBo(64 * K);
  ASSERT_EQ(t.Bind(other_vm, {TestDevice::MapOp(bo, 0, kVa, 64 * K)}), 0);
  Submit(t, g, {Write(0x5000'0000)});  // nothing mapped there
  Submitted b = Submit(t, bystander, {Write(kVa)});
  t.dev.RunAll();
  EXPECT_EQ(WaitJob(t, b.syncobj), 0);
  std::shared_ptr<gpu::Group> gg = t.dev.LookupGroup(t.file, g);
  EXPECT_EQ(gg->state, kPanthorGroupStateFatalFault);
  EXPECT_EQ(gg->fatal_queues, 0x3u) << "all queues";
  EXPECT_EQ(t.dev.LookupGroup(t.file, g2)->fatal_queues, 0x1u) << "every group on the VM";
  EXPECT_EQ(t.dev.LookupGroup(t.file, bystander)->state, 0u) << "groups on other VMs are untouched";
  PanthorGroupGetState st{g, 0, 0, 0};
  ASSERT_EQ(t.Call(kPanthorIoctlGroupGetState, &st), 0);
  EXPECT_EQ(st.state, kPanthorGroupStateFatalFault);
  EXPECT_EQ(st.fatal_queues, 0x3u);
  EXPECT_EQ(t.dev.stats().faults_failed, 1u);
}

TEST(FaultTest, AKilledGroupStaysDeadWhileItsVmRecovers) {
  TestDevice t;
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(1 * M, kPanthorBoAllocOnFault, 64 * K);
  ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, kVa, 1 * M)}), 0);
  const uint32_t g = CreateGroup(t, vm);
  Submit(t, g, {Write(0x7000'0000)});
  t.dev.RunAll();
  ASSERT_NE(t.dev.LookupGroup(t.file, g)->fatal_queues, 0u);
  // The dead group accepts no new submits.
  EXPECT_EQ(Submit(t, g, {Write(kVa)}).ret, -kEINVAL);
  PanthorQueueSubmit qs{0, 0, 0, 0, 0, {}};
  PanthorGroupSubmit gs{g, 0, {sizeof(qs), 1, t.Place(&qs, sizeof(qs))}};
  EXPECT_EQ(t.Call(kPanthorIoctlGroupSubmit, &gs), -kEINVAL);
  // A new group on the same VM runs: reactivation cleared the faulty AS.
  const uint32_t g2 = CreateGroup(t, vm);
  Submitted s = Submit(t, g2, {Write(kVa + 100)});
  t.dev.RunAll();
  EXPECT_EQ(WaitJob(t, s.syncobj), 0);
  EXPECT_EQ(t.dev.LookupGroup(t.file, g)->state & kPanthorGroupStateInnocent, 0u);
  EXPECT_EQ(t.dev.CheckInvariants(), "");
}

TEST(FaultTest, AJobStillRunningAfterTheJobTimeoutIsKilled) {
  // A byte-stride sweep of 256 MiB: 2^28 accesses, far past panthor's 5 s
  // job timeout. It ends at the timeout, its group timed out. (A GPU 1000 times
  // slower per access than the G610's model keeps the test quick: 5 s of
  // 100 µs accesses. On the real costs the same job ends after 5 s / 100 ns.)
  DeviceConfig cfg = Config();
  cfg.profile.cost.gpu_page_access = {100'000, 100'000};
  TestDevice t(cfg);
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(256 * M);
  ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, kVa, 256 * M)}), 0);
  const uint32_t g = CreateGroup(t, vm);
  Submitted s = Submit(t, g, {gpu::GpuAccess{kVa, 256 * M, 1, trace::ACCESS_READ}});
  ASSERT_EQ(s.ret, 0);
  t.dev.RunAll();
  EXPECT_EQ(t.dev.LookupGroup(t.file, g)->state, kPanthorGroupStateTimedout);
  EXPECT_EQ(WaitJob(t, s.syncobj), 0) << "the fence signals (with -ETIMEDOUT)";
  EXPECT_GE(t.dev.now_ns(), 5'000'000'000u);
  EXPECT_LT(t.dev.now_ns(), 6'000'000'000u);
  bool logged = false;
  for (const std::string& line : t.dev.kernel_log())
    logged |= line.find("job timeout") != std::string::npos;
  EXPECT_TRUE(logged);
  EXPECT_EQ(t.dev.CheckInvariants(), "");
}

TEST(FaultTest, GroupCreateChecks) {
  TestDevice t;
  const uint32_t vm = t.CreateVm();
  PanthorQueueCreate q{0, {0, 0, 0}, 16 * 1024};
  auto make = [&](PanthorQueueCreate queue) {
    PanthorGroupCreate g{};
    g.queues = {sizeof(queue), 1, t.Place(&queue, sizeof(queue))};
    g.compute_core_mask = 0x1;
    g.fragment_core_mask = 0x1;
    g.tiler_core_mask = 0x1;
    g.max_compute_cores = 1;
    g.max_fragment_cores = 1;
    g.max_tiler_cores = 1;
    g.vm_id = vm;
    return g;
  };
  PanthorGroupCreate g = make(q);
  EXPECT_EQ(t.Call(kPanthorIoctlGroupCreate, &g), 0);
  EXPECT_EQ(g.group_handle, 1u);
  g = make(q);
  g.priority = 4;
  EXPECT_EQ(t.Call(kPanthorIoctlGroupCreate, &g), -kEINVAL);
  g = make(q);
  g.priority = kPanthorGroupPriorityHigh;
  EXPECT_EQ(t.Call(kPanthorIoctlGroupCreate, &g), -kEACCES);
  g = make(q);
  g.queues.count = 0;
  EXPECT_EQ(t.Call(kPanthorIoctlGroupCreate, &g), -kEINVAL);
  g = make(q);
  g.compute_core_mask = 0x2;  // not in shader_present 0x50005
  EXPECT_EQ(t.Call(kPanthorIoctlGroupCreate, &g), -kEINVAL);
  g = make(q);
  g.max_compute_cores = 2;  // more than popcount(mask)
  EXPECT_EQ(t.Call(kPanthorIoctlGroupCreate, &g), -kEINVAL);
  g = make(q);
  g.vm_id = 9;
  EXPECT_EQ(t.Call(kPanthorIoctlGroupCreate, &g), -kEINVAL);
  for (PanthorQueueCreate bad :
       {PanthorQueueCreate{16, {0, 0, 0}, 16 * 1024}, PanthorQueueCreate{0, {1, 0, 0}, 16 * 1024},
        PanthorQueueCreate{0, {0, 0, 0}, 2048}, PanthorQueueCreate{0, {0, 0, 0}, 128 * 1024},
        PanthorQueueCreate{0, {0, 0, 0}, 12288}}) {
    g = make(bad);
    EXPECT_EQ(t.Call(kPanthorIoctlGroupCreate, &g), -kEINVAL);
  }
  PanthorGroupDestroy d{1, 1};
  EXPECT_EQ(t.Call(kPanthorIoctlGroupDestroy, &d), -kEINVAL);
  d = {1, 0};
  EXPECT_EQ(t.Call(kPanthorIoctlGroupDestroy, &d), 0);
  EXPECT_EQ(t.Call(kPanthorIoctlGroupDestroy, &d), -kEINVAL);
}

TEST(FaultTest, SlotsAreEvictedLruAndEbusyWaits) {
  TestDevice t;  // g610: AS0 firmware + 7 user slots
  std::vector<uint32_t> groups;
  for (int i = 0; i < 9; ++i) {
    const uint32_t vm = t.CreateVm();
    const uint32_t bo = t.CreateBo(64 * K);
    ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, kVa, 64 * K)}), 0);
    groups.push_back(CreateGroup(t, vm));
  }
  std::vector<Submitted> subs;
  for (uint32_t g : groups) subs.push_back(Submit(t, g, {Write(kVa, 64 * K)}));
  t.dev.RunAll();
  for (const Submitted& s : subs) EXPECT_EQ(WaitJob(t, s.syncobj), 0);
  EXPECT_GE(t.dev.mmu().evictions(), 2u) << "9 VMs on 7 slots";
  EXPECT_EQ(t.dev.CheckInvariants(), "");
}

TEST(FaultTest, TilerHeapGrowsOnOomThenFallsBackToIncrementalRendering) {
  TestDevice t;
  Capture cap;
  t.dev.set_observer(&cap);
  const uint32_t vm = t.CreateVm();
  PanthorTilerHeapCreate h{vm, 1, 256 * 1024, 3, 2, 0, 0, 0};
  ASSERT_EQ(t.Call(kPanthorIoctlTilerHeapCreate, &h), 0);
  EXPECT_EQ(h.handle, vm << 16 | 1u);
  EXPECT_GE(h.first_heap_chunk_gpu_va, 1ULL << 47) << "a kernel VA";
  const uint32_t g = CreateGroup(t, vm);
  gpu::GpuAccess oom{h.tiler_heap_ctx_gpu_va, 0, 0, trace::ACCESS_WRITE, true};
  Submitted s = Submit(t, g, {oom, oom, oom, Write(h.first_heap_chunk_gpu_va)});
  t.dev.RunAll();
  EXPECT_EQ(WaitJob(t, s.syncobj), 0) << "incremental rendering keeps the job alive";
  auto grows = cap.Of(trace::EVENT_HEAP_GROW);
  ASSERT_EQ(grows.size(), 3u);
  EXPECT_FALSE(grows[0]->heap_grow.fallback);
  EXPECT_FALSE(grows[1]->heap_grow.fallback);
  EXPECT_TRUE(grows[2]->heap_grow.fallback) << "max_chunks reached";
  EXPECT_EQ(t.dev.stats().heap_grow_fallbacks, 1u);
  EXPECT_EQ(t.dev.stats().faults, 0u) << "growth is not a page fault";
  // Creation checks.
  for (PanthorTilerHeapCreate bad :
       {PanthorTilerHeapCreate{vm, 0, 256 * 1024, 3, 1, 0, 0, 0},
        PanthorTilerHeapCreate{vm, 4, 256 * 1024, 3, 1, 0, 0, 0},
        PanthorTilerHeapCreate{vm, 1, 64 * 1024, 3, 1, 0, 0, 0},
        PanthorTilerHeapCreate{vm, 1, 16 * 1024 * 1024, 3, 1, 0, 0, 0},
        PanthorTilerHeapCreate{vm, 1, 256 * 1024 + 1, 3, 1, 0, 0, 0},
        PanthorTilerHeapCreate{vm + 5, 1, 256 * 1024, 3, 1, 0, 0, 0}}) {
    EXPECT_EQ(t.Call(kPanthorIoctlTilerHeapCreate, &bad), -kEINVAL);
  }
  PanthorTilerHeapDestroy d{h.handle, 0};
  EXPECT_EQ(t.Call(kPanthorIoctlTilerHeapDestroy, &d), 0);
  EXPECT_EQ(t.Call(kPanthorIoctlTilerHeapDestroy, &d), -kEINVAL);
}

// A fault-heavy job under memory pressure, per policy.
struct PressureOutcome {
  uint64_t handled = 0, degraded = 0, enomem = 0, jobs_failed = 0, kswapd = 0;
  std::string events;
  bool operator==(const PressureOutcome& o) const {
    return handled == o.handled && degraded == o.degraded && enomem == o.enomem &&
           jobs_failed == o.jobs_failed && events == o.events;
  }
};

PressureOutcome RunPressure(const char* policy, uint64_t seed) {
  DeviceConfig cfg = Config(Variant::kSeriesFixed);
  cfg.budget_bytes = 256 * M;
  cfg.seed = seed;
  cfg.policy = policy;
  cfg.pressure.enabled = true;
  cfg.pressure.tenant_min_permille = 960;
  cfg.pressure.tenant_max_permille = 1000;
  cfg.pressure.fail_permille = 20;
  cfg.pressure.start_step = 0;
  TestDevice t(cfg);
  Capture cap;
  t.dev.set_observer(&cap);
  const uint32_t vm = t.CreateVm();
  const uint32_t bo = t.CreateBo(64 * M, kPanthorBoAllocOnFault, 64 * K);
  EXPECT_EQ(t.Bind(vm, {TestDevice::MapOp(bo, 0, kVa, 64 * M)}), 0);
  // Let the tenants fill memory first.
  t.dev.scheduler().RunUntil([] { return false; }, 50'000'000);
  PressureOutcome out;
  for (int frame = 0; frame < 8; ++frame) {
    const uint32_t g = CreateGroup(t, vm);
    std::vector<gpu::GpuAccess> acc;
    for (int i = 0; i < 16; ++i) acc.push_back(Write(kVa + (frame * 16 + i) * 256 * K));
    Submitted s = Submit(t, g, acc);
    WaitJob(t, s.syncobj);
  }
  t.dev.RunAll();
  for (const auto* e : cap.Of(trace::EVENT_MMU_FAULT)) {
    out.handled += e->fault.outcome == trace::FAULT_HANDLED;
    out.degraded += e->fault.outcome == trace::FAULT_DEGRADED;
    out.enomem += e->fault.outcome == trace::FAULT_ENOMEM;
  }
  out.jobs_failed = t.dev.stats().jobs_failed;
  out.kswapd = t.dev.pressure()->kswapd_runs();
  out.events = cap.Bytes();
  EXPECT_EQ(t.dev.CheckInvariants(), "") << policy;
  return out;
}

TEST(PressureTest, OneSeedGivesTheSameFailuresEveryTime) {
  const PressureOutcome a = RunPressure("noretry", 7);
  const PressureOutcome b = RunPressure("noretry", 7);
  EXPECT_TRUE(a == b);
  EXPECT_GT(a.enomem, 0u) << "the scenario must put the fault path under pressure";
}

TEST(PressureTest, PoliciesDifferAsDesigned) {
  std::map<std::string, PressureOutcome> r;
  for (const char* p : {"noretry", "nowait", "pool:256", "dummy-page"}) r[p] = RunPressure(p, 3);
  EXPECT_GT(r["noretry"].enomem, 0u);
  EXPECT_EQ(r["dummy-page"].enomem, 0u) << "dummy-page degrades instead of failing";
  EXPECT_GT(r["dummy-page"].degraded, 0u);
  EXPECT_EQ(r["dummy-page"].jobs_failed, 0u) << "and keeps the context alive";
  EXPECT_LT(r["pool:256"].enomem, r["noretry"].enomem) << "the reserve absorbs faults";
  EXPECT_GT(r["nowait"].kswapd, 0u) << "nowait wakes kswapd";
  EXPECT_GT(r["nowait"].handled, r["noretry"].handled) << "kswapd's reclaim helps later faults";
  EXPECT_GT(r["pool:256"].handled, r["noretry"].handled);
  // Every pair of policies differs on this scenario.
  const std::vector<std::string> names = {"noretry", "nowait", "pool:256", "dummy-page"};
  for (size_t i = 0; i < names.size(); ++i) {
    for (size_t j = i + 1; j < names.size(); ++j) {
      EXPECT_FALSE(r[names[i]] == r[names[j]]) << names[i] << " vs " << names[j];
    }
  }
}

TEST(DeterminismTest, ARunTwiceAndInTwoProcessesGivesTheSameBytes) {
  const PressureOutcome here = RunPressure("nowait", 11);
  EXPECT_TRUE(here == RunPressure("nowait", 11));
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(pipefd[0]);
    const std::string bytes = RunPressure("nowait", 11).events;
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = write(pipefd[1], bytes.data() + off, bytes.size() - off);
      if (n <= 0) _exit(2);
      off += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(pipefd[1]);
  std::string child;
  char buf[65536];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) child.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(child.size(), here.events.size());
  EXPECT_TRUE(child == here.events) << "the other process produced different events";
}

}  // namespace
}  // namespace faultlab::dev
