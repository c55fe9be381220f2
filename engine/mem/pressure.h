// Pressure: the rest of the system competing for memory, in virtual time.
//
// Other tenants hold a share of memory that follows a triangle wave between
// `tenant_min` and `tenant_max` of the budget (one period every `period_ns`),
// with seeded noise at each step; `reclaimable_permille` of it is clean page
// cache. kswapd, woken by allocations with __GFP_KSWAPD_RECLAIM below the low
// watermark, reclaims page cache until free memory reaches the high watermark,
// `kswapd_wakeup` later and `reclaim_page` per page; blocking allocations
// reclaim what they need directly. A seeded failure model makes non-blocking
// allocations fail with probability `fail_permille` per mille while free
// memory is below the low watermark (contention and fragmentation the
// watermark arithmetic does not capture). Everything is deterministic per seed.
#ifndef FAULTLAB_ENGINE_MEM_PRESSURE_H_
#define FAULTLAB_ENGINE_MEM_PRESSURE_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "engine/base/prng.h"
#include "engine/mem/memory.h"
#include "engine/sim/scheduler.h"

namespace faultlab::mem {

struct PressureConfig {
  bool enabled = false;
  uint32_t tenant_min_permille = 700;  // of the budget
  uint32_t tenant_max_permille = 990;
  uint64_t period_ns = 200'000'000;  // 200 ms
  uint32_t steps_per_period = 40;
  uint32_t reclaimable_permille = 500;  // page cache share of tenant memory
  uint32_t noise_permille = 20;
  uint32_t fail_permille = 0;  // failure model (0 = off)
  // Where in the wave the tenants start (a step index); kSeededStart picks
  // one from the seed.
  static constexpr uint32_t kSeededStart = 0xffffffffu;
  uint32_t start_step = kSeededStart;
};

// Reclaim costs, from the profile's cost model.
struct ReclaimCosts {
  uint64_t kswapd_wakeup_min_ns, kswapd_wakeup_max_ns;
  uint64_t reclaim_page_min_ns, reclaim_page_max_ns;
};

class Pressure {
 public:
  Pressure(MemoryModel* mem, sim::Scheduler* sched, PressureConfig config, ReclaimCosts costs,
           uint64_t seed);
  // Installs the hooks and schedules the tenants' first step.
  void Start();

  uint64_t tenant_pages() const { return cache_.size() + anon_.size(); }
  uint64_t reclaimed_pages() const { return reclaimed_; }
  uint64_t kswapd_runs() const { return kswapd_runs_; }

 private:
  void Step();
  uint64_t Reclaim(uint64_t pages);
  void WakeKswapd();

  MemoryModel* mem_;
  sim::Scheduler* sched_;
  PressureConfig config_;
  ReclaimCosts costs_;
  Prng prng_;
  std::deque<uint32_t> cache_;  // reclaimable (page cache), newest last
  std::vector<uint32_t> anon_;  // not reclaimable here
  uint64_t step_ = 0;
  bool kswapd_pending_ = false;
  uint64_t reclaimed_ = 0;
  uint64_t kswapd_runs_ = 0;
};

}  // namespace faultlab::mem

#endif  // FAULTLAB_ENGINE_MEM_PRESSURE_H_
