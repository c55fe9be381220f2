#include "engine/pgtable/pgtable.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include "engine/base/check.h"
#include "engine/base/prng.h"
#include "engine/uapi/errno.h"

namespace faultlab::pgtable {
namespace {

class CountingAllocator : public TableAllocator {
 public:
  bool Alloc(uint32_t* frame) override {
    if (fail_after_ >= 0 && allocs_ >= fail_after_) return false;
    ++allocs_;
    *frame = next_++;
    live_.insert(*frame);
    return true;
  }
  void Free(uint32_t frame) override {
    FAULTLAB_CHECK(live_.erase(frame) == 1, "frame ", frame, " freed twice");
  }
  size_t live() const { return live_.size(); }
  int allocs_ = 0;
  int fail_after_ = -1;

 private:
  uint32_t next_ = 100;
  std::set<uint32_t> live_;
};

constexpr int kRw = kProtRead | kProtWrite | kProtCache;

TEST(PageTableTest, LevelsFollowTheVaSize) {
  CountingAllocator a;
  EXPECT_EQ(PageTable(48, &a).start_level(), 0);
  EXPECT_EQ(PageTable(40, &a).start_level(), 0);
  EXPECT_EQ(PageTable(39, &a).start_level(), 1);
  EXPECT_EQ(PageTable(32, &a).start_level(), 1);
  EXPECT_EQ(a.live(), 0u) << "every root freed";
}

TEST(PageTableTest, MapTranslateUnmapFourKilobytePages) {
  CountingAllocator a;
  PageTable pt(48, &a);
  uint64_t mapped;
  ASSERT_EQ(pt.MapPages(0x10000, 0x800000, kSz4K, 4, kRw, &a, &mapped), 0);
  EXPECT_EQ(mapped, 4 * kSz4K);
  EXPECT_EQ(pt.table_pages(), 4u) << "root + L1 + L2 + L3";
  EXPECT_EQ(pt.IovaToPhys(0x10123), 0x800123u);
  EXPECT_EQ(pt.IovaToPhys(0x13fff), 0x803fffu);
  EXPECT_EQ(pt.IovaToPhys(0x14000), 0u);
  Walk w = pt.Translate(0x14000);
  EXPECT_FALSE(w.mapped);
  EXPECT_EQ(w.level, 3);
  EXPECT_EQ(pt.MapPages(0x11000, 0x900000, kSz4K, 1, kRw, &a, &mapped), -uapi::kEEXIST);
  EXPECT_EQ(pt.UnmapPages(0x10000, kSz4K, 2), 2 * kSz4K);
  EXPECT_EQ(pt.UnmapPages(0x10000, kSz4K, 1), 0u) << "a hole stops the unmap";
  EXPECT_EQ(pt.UnmapPages(0x12000, kSz4K, 4), 2 * kSz4K) << "stops at the first hole";
  EXPECT_EQ(pt.table_pages(), 4u) << "io-pgtable-arm keeps emptied tables";
}

TEST(PageTableTest, MapsStopAtTheEndOfATable) {
  CountingAllocator a;
  PageTable pt(48, &a);
  uint64_t mapped;
  ASSERT_EQ(pt.MapPages(kSz2M - 2 * kSz4K, 0x800000, kSz4K, 8, kRw, &a, &mapped), 0);
  EXPECT_EQ(mapped, 2 * kSz4K);
}

TEST(PageTableTest, BlocksAndNoPartialUnmapOfABlock) {
  CountingAllocator a;
  PageTable pt(48, &a);
  uint64_t mapped;
  ASSERT_EQ(pt.MapPages(kSz2M, 4 * kSz2M, kSz2M, 2, kRw, &a, &mapped), 0);
  EXPECT_EQ(mapped, 2 * kSz2M);
  EXPECT_EQ(pt.table_pages(), 3u) << "root + L1 + L2, no L3 under blocks";
  Walk w = pt.Translate(kSz2M + 0x1234);
  EXPECT_TRUE(w.mapped);
  EXPECT_EQ(w.level, 2);
  EXPECT_EQ(w.phys, 4 * kSz2M + 0x1234);
  EXPECT_EQ(pt.UnmapPages(kSz2M + kSz4K, kSz4K, 1), 0u) << "no block splitting since v6.13";
  EXPECT_EQ(pt.IovaToPhys(kSz2M + kSz4K), 4 * kSz2M + kSz4K);
  EXPECT_EQ(pt.MapPages(kSz2M, 0, kSz4K, 1, kRw, &a, &mapped), -uapi::kEEXIST);
  EXPECT_EQ(pt.UnmapPages(kSz2M, kSz2M, 2), 2 * kSz2M);
}

TEST(PageTableTest, LargeUnmapOverATableFreesItAndABlockReplacesATable) {
  CountingAllocator a;
  PageTable pt(48, &a);
  uint64_t mapped;
  ASSERT_EQ(pt.MapPages(0, 0x800000, kSz4K, 3, kRw, &a, &mapped), 0);
  EXPECT_EQ(pt.table_pages(), 4u);
  EXPECT_EQ(pt.UnmapPages(0, kSz2M, 1), kSz2M) << "the L2 entry is a table: freed whole";
  EXPECT_EQ(pt.table_pages(), 3u);
  EXPECT_EQ(pt.IovaToPhys(0x1000), 0u);
  ASSERT_EQ(pt.MapPages(kSz2M, 0x800000, kSz4K, 1, kRw, &a, &mapped), 0);
  ASSERT_EQ(pt.UnmapPages(kSz2M, kSz4K, 1), kSz4K);
  EXPECT_EQ(pt.table_pages(), 4u) << "an emptied L3 stays";
  ASSERT_EQ(pt.MapPages(kSz2M, 8 * kSz2M, kSz2M, 1, kRw, &a, &mapped), 0);
  EXPECT_EQ(pt.table_pages(), 3u) << "the empty L3 under the new block was freed";
}

TEST(PageTableTest, AllocationFailureIsEnomemAndLeavesNoLeaf) {
  CountingAllocator a;
  PageTable pt(48, &a);
  a.fail_after_ = a.allocs_ + 1;  // L1 can be had, L2 cannot
  uint64_t mapped;
  EXPECT_EQ(pt.MapPages(0x40000000, 0x800000, kSz4K, 1, kRw, &a, &mapped), -uapi::kENOMEM);
  EXPECT_EQ(mapped, 0u);
  EXPECT_EQ(pt.IovaToPhys(0x40000000), 0u);
}

TEST(PageTableTest, ProtBits) {
  CountingAllocator a;
  PageTable pt(48, &a);
  uint64_t mapped;
  ASSERT_EQ(pt.MapPages(0, 0x1000, kSz4K, 1, kProtRead | kProtNoexec, &a, &mapped), 0);
  const uint64_t pte = pt.Translate(0).pte;
  EXPECT_TRUE(pte & kPteApRdonly);
  EXPECT_TRUE(pte & kPteXn);
  EXPECT_FALSE(pte & kPteAttrIdxCache);
  EXPECT_EQ(pt.MapPages(0x1000, 0x1000, kSz4K, 1, 0, &a, &mapped), 0);
  EXPECT_EQ(mapped, 0u) << "no access: nothing to do";
}

// A reference model of what io-pgtable-arm does with 4 KiB pages and 2 MiB
// blocks: pages (4K iova -> phys), blocks, and which 2 MiB regions have an
// L3 table (tables outlive their last page).
struct Reference {
  std::map<uint64_t, uint64_t> pages;
  std::set<uint64_t> blocks;
  std::set<uint64_t> l3;

  static uint64_t Region(uint64_t iova) { return iova & ~(kSz2M - 1); }

  int Map(uint64_t iova, uint64_t phys, uint64_t size, uint64_t count, uint64_t* mapped) {
    *mapped = 0;
    if (size == kSz4K) {
      const uint64_t r = Region(iova);
      if (blocks.count(r)) return -uapi::kEEXIST;
      l3.insert(r);  // the descent creates the table first
      const uint64_t n = std::min<uint64_t>(count, 512 - (iova - r) / kSz4K);
      for (uint64_t i = 0; i < n; ++i) {
        if (pages.count(iova + i * kSz4K)) return -uapi::kEEXIST;
      }
      for (uint64_t i = 0; i < n; ++i) pages[iova + i * kSz4K] = phys + i * kSz4K;
      *mapped = n * kSz4K;
      return 0;
    }
    const uint64_t n = std::min<uint64_t>(count, 512 - (iova / kSz2M) % 512);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t r = iova + i * kSz2M;
      if (blocks.count(r)) return -uapi::kEEXIST;
      if (l3.count(r)) DropRegion(r);  // table unmapped and freed first
    }
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t r = iova + i * kSz2M;
      blocks.insert(r);
      for (uint64_t off = 0; off < kSz2M; off += kSz4K) pages[r + off] = phys + i * kSz2M + off;
    }
    *mapped = n * kSz2M;
    return 0;
  }

  void DropRegion(uint64_t r) {
    l3.erase(r);
    blocks.erase(r);
    pages.erase(pages.lower_bound(r), pages.lower_bound(r + kSz2M));
  }

  uint64_t Unmap(uint64_t iova, uint64_t size, uint64_t count) {
    if (size == kSz4K) {
      const uint64_t r = Region(iova);
      if (blocks.count(r) || !l3.count(r)) return 0;
      const uint64_t n = std::min<uint64_t>(count, 512 - (iova - r) / kSz4K);
      uint64_t i = 0;
      for (; i < n && pages.count(iova + i * kSz4K); ++i) pages.erase(iova + i * kSz4K);
      return i * kSz4K;
    }
    const uint64_t n = std::min<uint64_t>(count, 512 - (iova / kSz2M) % 512);
    uint64_t i = 0;
    for (; i < n; ++i) {
      const uint64_t r = iova + i * kSz2M;
      if (!blocks.count(r) && !l3.count(r)) break;
      DropRegion(r);
    }
    return i * kSz2M;
  }
};

TEST(PageTableTest, AccessibleRunsStopAtHolesAndDeniedLeaves) {
  CountingAllocator a;
  PageTable pt(48, &a);
  uint64_t mapped;
  // [0, 8) read-write pages, [8, 10) read-only, [10, 12) no-exec, a hole,
  // then a read-write 2 MiB block from 2 MiB.
  ASSERT_EQ(pt.MapPages(0, 0x100000, kSz4K, 8, kRw, &a, &mapped), 0);
  ASSERT_EQ(pt.MapPages(8 * kSz4K, 0x200000, kSz4K, 2, kProtRead, &a, &mapped), 0);
  ASSERT_EQ(pt.MapPages(10 * kSz4K, 0x300000, kSz4K, 2, kRw | kProtNoexec, &a, &mapped), 0);
  ASSERT_EQ(pt.MapPages(kSz2M, 0x40000000, kSz2M, 1, kRw, &a, &mapped), 0);
  EXPECT_EQ(pt.AccessibleRun(0, 100, 0), 12u) << "reads go up to the hole";
  EXPECT_EQ(pt.AccessibleRun(0, 100, kPteApRdonly), 8u) << "writes stop at read-only";
  EXPECT_EQ(pt.AccessibleRun(8 * kSz4K, 100, kPteXn), 2u) << "execution stops at no-exec";
  EXPECT_EQ(pt.AccessibleRun(0, 5, 0), 5u) << "at most what was asked";
  EXPECT_EQ(pt.AccessibleRun(12 * kSz4K, 100, 0), 0u) << "a hole first";
  EXPECT_EQ(pt.AccessibleRun(kSz2M + 3 * kSz4K, 1000, 0), 509u) << "a block to its end";
  EXPECT_EQ(pt.AccessibleRun(kSz2M - kSz4K, 1000, 0), 0u);
}

// Property test: random 4 KiB / 2 MiB maps and unmaps against the reference;
// results, translations and table counts are checked after every step.
TEST(PageTableTest, RandomOpsMatchAReferenceModel) {
  const bool soak =
      std::getenv("FAULTLAB_TIER") && std::string(std::getenv("FAULTLAB_TIER")) == "soak";
  for (uint64_t seed = 1; seed <= (soak ? 20000u : 200u); ++seed) {
    Prng prng(seed);
    CountingAllocator a;
    PageTable pt(48, &a);
    Reference ref;
    const uint64_t window = 8 * kSz2M;                  // 8 regions, so ops collide
    const uint64_t base_tables = pt.table_pages() + 2;  // root, L1, L2 once touched
    for (int step = 0; step < 200; ++step) {
      const bool big = prng.Chance(1, 4);
      const uint64_t size = big ? kSz2M : kSz4K;
      const uint64_t iova = prng.Uniform(window / size) * size;
      const uint64_t count = 1 + prng.Uniform(big ? 3 : 24);
      if (prng.Chance(1, 2)) {
        const uint64_t phys = (1 + prng.Uniform(1000)) * kSz2M;
        uint64_t mapped, want_mapped;
        const int ret = pt.MapPages(iova, phys, size, count, kRw, &a, &mapped);
        const int want = ref.Map(iova, phys, size, count, &want_mapped);
        ASSERT_EQ(ret, want) << "map seed " << seed << " step " << step;
        ASSERT_EQ(mapped, want_mapped) << "seed " << seed << " step " << step;
      } else {
        ASSERT_EQ(pt.UnmapPages(iova, size, count), ref.Unmap(iova, size, count))
            << "unmap seed " << seed << " step " << step;
      }
      uint64_t leaf_pages = 0, leaf_hash = 0;
      pt.ForEachLeaf([&](uint64_t va, uint64_t sz, uint64_t pte) {
        leaf_hash ^= PageTable::LeafHash(va, sz, pte);
        ASSERT_EQ(sz == kSz2M, ref.blocks.count(va) > 0) << "seed " << seed;
        for (uint64_t off : {uint64_t{0}, sz - kSz4K}) {  // first and last page
          auto it = ref.pages.find(va + off);
          ASSERT_NE(it, ref.pages.end()) << "leaf not in the model, seed " << seed;
          ASSERT_EQ(pt.IovaToPhys(va + off + 0x10), it->second + 0x10);
        }
        leaf_pages += sz / kSz4K;
      });
      ASSERT_EQ(leaf_pages, ref.pages.size()) << "seed " << seed << " step " << step;
      // The incremental leaf hash equals one computed from scratch.
      ASSERT_EQ(pt.leaf_hash(), leaf_hash) << "seed " << seed << " step " << step;
      if (pt.table_pages() > 1) {
        ASSERT_EQ(pt.table_pages(), base_tables + ref.l3.size())
            << "seed " << seed << " step " << step;
      }
      ASSERT_EQ(pt.table_pages(), a.live()) << "table accounting";
      // A run of accessible pages is what page-by-page walks find.
      const uint64_t from = prng.Uniform(window / kSz4K) * kSz4K;
      const uint64_t max = 1 + prng.Uniform(1100);
      uint64_t walked = 0;
      while (walked < max && pt.Translate(from + walked * kSz4K).mapped) ++walked;
      ASSERT_EQ(pt.AccessibleRun(from, max, 0), walked) << "seed " << seed << " step " << step;
      if (HasFatalFailure()) return;
    }
    // Unmapping everything leaves no leaf in the hash.
    for (uint64_t va = 0; va < 2 * window; va += kSz2M) {  // maps run past the window
      if (pt.UnmapPages(va, kSz2M, 1) == 0) {
        for (uint64_t p = va; p < va + kSz2M; p += kSz4K) pt.UnmapPages(p, kSz4K, 1);
      }
    }
    ASSERT_EQ(pt.leaf_hash(), 0u) << "seed " << seed;
  }
}

}  // namespace
}  // namespace faultlab::pgtable
