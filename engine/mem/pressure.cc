#include "engine/mem/pressure.h"

#include <algorithm>

namespace faultlab::mem {

Pressure::Pressure(MemoryModel* mem, sim::Scheduler* sched, PressureConfig config,
                   ReclaimCosts costs, uint64_t seed)
    : mem_(mem), sched_(sched), config_(config), costs_(costs), prng_(seed ^ 0x7e4a47ULL) {}

void Pressure::Start() {
  mem_->set_reclaimer([this](uint64_t pages) { return Reclaim(pages); });
  mem_->set_kswapd_waker([this] { WakeKswapd(); });
  if (config_.fail_permille) {
    mem_->set_injector([this](AllocClass cls, Owner, uint32_t) {
      if (cls == AllocClass::kBlocking) return false;
      if (mem_->free_pages() >= mem_->watermarks().low_pages) return false;
      return prng_.Chance(config_.fail_permille, 1000);
    });
  }
  if (config_.enabled) {
    step_ = config_.start_step != PressureConfig::kSeededStart
                ? config_.start_step
                : prng_.Uniform(std::max<uint32_t>(config_.steps_per_period, 2));
    Step();
  }
}

void Pressure::Step() {
  // Triangle wave over one period, plus noise.
  const uint64_t steps = std::max<uint32_t>(config_.steps_per_period, 2);
  const uint64_t phase = step_ % steps;
  const uint64_t half = steps / 2;
  const uint64_t tri = phase < half ? phase * 1000 / half : (steps - phase) * 1000 / half;
  const uint64_t span = config_.tenant_max_permille - config_.tenant_min_permille;
  int64_t permille = config_.tenant_min_permille + static_cast<int64_t>(span * tri / 1000);
  permille += static_cast<int64_t>(prng_.Range(0, 2 * config_.noise_permille)) -
              static_cast<int64_t>(config_.noise_permille);
  permille = std::clamp<int64_t>(permille, 0, 1000);
  const uint64_t target = mem_->frame_count() * static_cast<uint64_t>(permille) / 1000;
  // Grow down to the min watermark at most (tenants do not reclaim each
  // other here), or shrink. Each page: its frame, then a draw for its list.
  // Without the injector (which draws from this PRNG too) the frames come
  // in runs, AllocPages' frames being AllocPage's, and the draws follow.
  while (tenant_pages() < target) {
    uint32_t frames[4096];
    const uint32_t n = config_.fail_permille
                           ? 1
                           : static_cast<uint32_t>(std::min<uint64_t>(
                                 target - tenant_pages(), sizeof frames / sizeof *frames));
    const uint32_t got = mem_->AllocPages(AllocClass::kNoretry, Owner::kTenant, n, frames);
    for (uint32_t i = 0; i < got; ++i) {
      if (prng_.Chance(config_.reclaimable_permille, 1000)) {
        cache_.push_back(frames[i]);
      } else {
        anon_.push_back(frames[i]);
      }
    }
    if (got < n) break;
  }
  while (tenant_pages() > target) {
    if (!anon_.empty() && (cache_.empty() || prng_.Chance(1, 2))) {
      mem_->Free(anon_.back(), Owner::kTenant);
      anon_.pop_back();
    } else {
      mem_->Free(cache_.back(), Owner::kTenant);
      cache_.pop_back();
    }
  }
  ++step_;
  sched_->After(
      config_.period_ns / steps, [this] { Step(); }, /*background=*/true);
}

uint64_t Pressure::Reclaim(uint64_t pages) {
  uint64_t n = 0;
  for (; n < pages && !cache_.empty(); ++n) {
    mem_->Free(cache_.front(), Owner::kTenant);  // oldest first (LRU)
    cache_.pop_front();
  }
  reclaimed_ += n;
  return n;
}

void Pressure::WakeKswapd() {
  if (kswapd_pending_ || cache_.empty()) return;
  kswapd_pending_ = true;
  const uint64_t delay = prng_.Range(costs_.kswapd_wakeup_min_ns, costs_.kswapd_wakeup_max_ns);
  sched_->After(delay, [this] {
    ++kswapd_runs_;
    const uint64_t high = mem_->watermarks().high_pages;
    const uint64_t want = mem_->free_pages() < high ? high - mem_->free_pages() : 0;
    const uint64_t got = Reclaim(want);
    const uint64_t per_page = prng_.Range(costs_.reclaim_page_min_ns, costs_.reclaim_page_max_ns);
    // kswapd is busy for the time it took; a new wake-up waits for it.
    sched_->After(got * per_page, [this] { kswapd_pending_ = false; });
  });
}

}  // namespace faultlab::mem
