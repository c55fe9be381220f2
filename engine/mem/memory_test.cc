#include "engine/mem/memory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "engine/base/prng.h"

namespace faultlab::mem {
namespace {

TEST(MemoryTest, WatermarksFollowTheKernelFormula) {
  // 8 GiB: min_free_kbytes = int_sqrt(8388608 * 16) = 11585 KiB -> 2896 pages;
  // tmp = max(2896/4, 2097152 * 10 / 10000) = 2097.
  Watermarks w = ComputeWatermarks(2097152);
  EXPECT_EQ(w.min_pages, 2896u);
  EXPECT_EQ(w.low_pages, 2896u + 2097u);
  EXPECT_EQ(w.high_pages, 2896u + 2 * 2097u);
  // Small machines clamp at 128 KiB.
  EXPECT_EQ(ComputeWatermarks(64).min_pages, 32u);
}

TEST(MemoryTest, ClassesStopAtTheMinWatermarkAndNowaitWakesKswapd) {
  MemoryModel m(MemoryConfig{64ULL << 20, ThpMode::kNever});  // 16384 frames
  const uint64_t min = m.watermarks().min_pages;
  std::vector<uint32_t> frames;
  uint32_t f;
  while (m.AllocPage(AllocClass::kNoretry, Owner::kBoPage, &f)) frames.push_back(f);
  EXPECT_EQ(m.free_pages(), min);
  EXPECT_EQ(m.kswapd_wakeups(), 0u) << "the seed's fault-path class wakes nobody";
  EXPECT_FALSE(m.AllocPage(AllocClass::kBlocking, Owner::kBoPage, &f));
  EXPECT_EQ(m.kswapd_wakeups(), 1u) << "GFP_KERNEL has __GFP_KSWAPD_RECLAIM";
  EXPECT_FALSE(m.AllocPage(AllocClass::kNowait, Owner::kBoPage, &f));
  EXPECT_EQ(m.kswapd_wakeups(), 2u) << "GFP_NOWAIT too";
  std::set<uint32_t> unique(frames.begin(), frames.end());
  EXPECT_EQ(unique.size(), frames.size()) << "a frame was handed out twice";
  for (uint32_t x : frames) m.Free(x, Owner::kBoPage);
  EXPECT_EQ(m.free_pages(), m.frame_count());
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(MemoryTest, HugeRunsAreAlignedContiguousAndOnlyWithThp) {
  MemoryModel never(MemoryConfig{64ULL << 20, ThpMode::kNever});
  uint32_t f;
  EXPECT_FALSE(never.AllocHuge(AllocClass::kBlocking, Owner::kBoPage, &f));
  MemoryModel m(MemoryConfig{64ULL << 20, ThpMode::kWithinSize});
  uint32_t single;
  ASSERT_TRUE(m.AllocPage(AllocClass::kBlocking, Owner::kBoPage, &single));
  ASSERT_TRUE(m.AllocHuge(AllocClass::kBlocking, Owner::kBoPage, &f));
  EXPECT_EQ(f % kPagesPerHuge, 0u);
  EXPECT_NE(f / kPagesPerHuge, single / kPagesPerHuge) << "huge run must skip a used block";
  for (uint32_t i = 0; i < kPagesPerHuge; ++i) EXPECT_TRUE(m.IsAllocated(f + i));
  // Single pages fill the partly used block first, keeping whole blocks free.
  uint32_t next;
  ASSERT_TRUE(m.AllocPage(AllocClass::kBlocking, Owner::kBoPage, &next));
  EXPECT_EQ(next / kPagesPerHuge, single / kPagesPerHuge);
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(MemoryTest, MetadataIsCarvedFromFramesAndBalances) {
  MemoryModel m(MemoryConfig{64ULL << 20, ThpMode::kNever});
  ASSERT_TRUE(m.AllocMetadata(100, AllocClass::kNoretry));
  EXPECT_EQ(m.owned_pages(Owner::kMetadata), 1u);
  ASSERT_TRUE(m.AllocMetadata(4000, AllocClass::kNoretry));
  EXPECT_EQ(m.owned_pages(Owner::kMetadata), 2u);
  m.FreeMetadata(4000);
  EXPECT_EQ(m.owned_pages(Owner::kMetadata), 1u);
  m.FreeMetadata(100);
  EXPECT_EQ(m.owned_pages(Owner::kMetadata), 0u);
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(MemoryTest, InjectorFailsAllocationsDeterministically) {
  MemoryModel m(MemoryConfig{64ULL << 20, ThpMode::kNever});
  int calls = 0;
  m.set_injector([&](AllocClass cls, Owner, uint32_t) {
    return cls == AllocClass::kNoretry && ++calls % 2 == 0;
  });
  uint32_t f;
  EXPECT_TRUE(m.AllocPage(AllocClass::kNoretry, Owner::kBoPage, &f));
  EXPECT_FALSE(m.AllocPage(AllocClass::kNoretry, Owner::kBoPage, &f));
  EXPECT_TRUE(m.AllocPage(AllocClass::kBlocking, Owner::kBoPage, &f));
  EXPECT_EQ(m.failures(), 1u);
}

TEST(MemoryTest, PoolHandsOutItsReserveThenFallsBackToNoretry) {
  MemoryModel m(MemoryConfig{64ULL << 20, ThpMode::kNever});
  EXPECT_EQ(m.FillPool(4), 4u);
  EXPECT_EQ(m.FillPool(4), 0u) << "already full";
  // Fill memory down to the min watermark.
  uint32_t f;
  while (m.AllocPage(AllocClass::kNoretry, Owner::kTenant, &f)) {
  }
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(m.AllocPage(AllocClass::kPool, Owner::kBoPage, &f));
  EXPECT_FALSE(m.AllocPage(AllocClass::kPool, Owner::kBoPage, &f))
      << "reserve empty, noretry fails";
  EXPECT_EQ(m.owned_pages(Owner::kBoPage), 4u);
  EXPECT_EQ(m.CheckInvariants(), "");
}

TEST(MemoryTest, BlockingDirectReclaimsAndFailuresAreObserved) {
  MemoryModel m(MemoryConfig{64ULL << 20, ThpMode::kNever});
  std::vector<uint32_t> cache;
  uint32_t f;
  while (m.AllocPage(AllocClass::kNoretry, Owner::kTenant, &f)) cache.push_back(f);
  int observed = 0;
  m.set_failure_observer([&](AllocClass, Owner, uint32_t) { ++observed; });
  EXPECT_FALSE(m.AllocPage(AllocClass::kNoretry, Owner::kBoPage, &f));
  m.set_reclaimer([&](uint64_t want) {
    uint64_t n = 0;
    for (; n < want && !cache.empty(); ++n) {
      m.Free(cache.back(), Owner::kTenant);
      cache.pop_back();
    }
    return n;
  });
  EXPECT_TRUE(m.AllocPage(AllocClass::kBlocking, Owner::kBoPage, &f)) << "reclaimed page cache";
  EXPECT_FALSE(m.AllocPage(AllocClass::kNoretry, Owner::kBoPage, &f)) << "noretry never reclaims";
  EXPECT_EQ(observed, 2);
}

TEST(MemoryTest, ABudgetThatIsNotAWholeNumberOfBlocks) {
  MemoryModel m(MemoryConfig{(64ULL << 20) + 8192, ThpMode::kWithinSize});
  EXPECT_EQ(m.frame_count(), 16386u);
  EXPECT_EQ(m.CheckInvariants(), "");
  std::vector<uint32_t> got;
  uint32_t f;
  while (m.AllocPage(AllocClass::kBlocking, Owner::kBoPage, &f)) {
    ASSERT_LT(f, m.frame_count());
    got.push_back(f);
  }
  EXPECT_EQ(m.CheckInvariants(), "");
}

// AllocPages and FreePages are the page-by-page calls in runs (the fault
// path's granules): the same frames, wake-ups, failures and peaks, on two
// models driven through the same random runs into every watermark, with and
// without an injector.
void ExpectRunsMatchPageByPage(bool inject) {
  MemoryModel by_page(MemoryConfig{16ULL << 20, ThpMode::kNever});  // 4096 frames
  MemoryModel by_run(MemoryConfig{16ULL << 20, ThpMode::kNever});
  uint64_t a = 0, b = 0;  // with an injector, every 97th allocation fails
  if (inject) {
    by_page.set_injector([&a](AllocClass, Owner, uint32_t) { return ++a % 97 == 0; });
    by_run.set_injector([&b](AllocClass, Owner, uint32_t) { return ++b % 97 == 0; });
  }
  Prng prng(7);
  std::vector<uint32_t> held;
  const AllocClass classes[] = {AllocClass::kNoretry, AllocClass::kNowait, AllocClass::kBlocking};
  for (int step = 0; step < 400; ++step) {
    if (prng.Uniform(3) == 0 && !held.empty()) {
      // Free a random stretch of what is held (both models hold the same).
      const size_t at = prng.Uniform(held.size());
      const size_t n = std::min<size_t>(held.size() - at, 1 + prng.Uniform(40));
      for (size_t i = at; i < at + n; ++i) by_page.Free(held[i], Owner::kBoPage);
      by_run.FreePages(&held[at], static_cast<uint32_t>(n), Owner::kBoPage);
      held.erase(held.begin() + static_cast<long>(at), held.begin() + static_cast<long>(at + n));
    } else {
      const AllocClass cls = classes[prng.Uniform(3)];
      const uint32_t n = 1 + static_cast<uint32_t>(prng.Uniform(600));
      std::vector<uint32_t> a, b(n);
      uint32_t f;
      while (a.size() < n && by_page.AllocPage(cls, Owner::kBoPage, &f)) a.push_back(f);
      b.resize(by_run.AllocPages(cls, Owner::kBoPage, n, b.data()));
      ASSERT_EQ(a, b) << "step " << step << ": " << n << " " << AllocClassName(cls) << " pages";
      held.insert(held.end(), a.begin(), a.end());
    }
    ASSERT_EQ(by_page.free_pages(), by_run.free_pages()) << "step " << step;
    ASSERT_EQ(by_page.kswapd_wakeups(), by_run.kswapd_wakeups()) << "step " << step;
    ASSERT_EQ(by_page.failures(), by_run.failures()) << "step " << step;
    ASSERT_EQ(by_page.peak_used_pages(), by_run.peak_used_pages()) << "step " << step;
    ASSERT_EQ(by_run.CheckInvariants(), "") << "step " << step;
  }
  EXPECT_GT(by_run.failures(), 0u) << "the runs never reached a watermark";
  EXPECT_GT(by_run.kswapd_wakeups(), 0u);
}

TEST(MemoryTest, RunsHandOutWhatPageByPageWould) { ExpectRunsMatchPageByPage(false); }
TEST(MemoryTest, RunsHandOutWhatPageByPageWouldWithAnInjector) { ExpectRunsMatchPageByPage(true); }

// The block sets answer as a std::set would, across level boundaries.
TEST(BlockSetTest, MatchesAnOrderedSet) {
  for (uint32_t n : {1u, 64u, 65u, 4096u, 300000u}) {
    BlockSet b(n);
    std::set<uint32_t> want;
    Prng prng(n);
    for (int step = 0; step < 5000; ++step) {
      const uint32_t x = static_cast<uint32_t>(prng.Uniform(n));
      if (prng.Chance(1, 2)) {
        b.Insert(x);
        want.insert(x);
      } else {
        b.Erase(x);
        want.erase(x);
      }
      ASSERT_EQ(b.empty(), want.empty()) << "n " << n << " step " << step;
      if (!want.empty()) {
        ASSERT_EQ(b.First(), *want.begin()) << "n " << n << " step " << step;
      }
      ASSERT_EQ(b.Contains(x), want.count(x) > 0);
    }
  }
}

}  // namespace
}  // namespace faultlab::mem
