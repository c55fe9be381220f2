#include "engine/gem/sparse.h"

#include <gtest/gtest.h>

#include "engine/gem/bo.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::gem {
namespace {

using mem::AllocClass;
using uapi::kEINVAL;
using uapi::kENOENT;
using uapi::kENOMEM;

class SparseTest : public ::testing::Test {
 protected:
  mem::MemoryModel mem_{mem::MemoryConfig{256ULL << 20, mem::ThpMode::kNever}};
};

TEST_F(SparseTest, PopulatesAlignedRangesAndRejectsMisaligned) {
  // 1 MiB BO, 64 KiB granules (16 pages).
  Bo bo(&mem_, 1, 1 << 20, uapi::kPanthorBoAllocOnFault, 64 << 10, 0);
  SparseBacking& s = *bo.sparse();
  PopulateStats st;
  EXPECT_EQ(s.PopulateRange(bo.pages(), 8, 16, AllocClass::kNoretry, AllocClass::kNoretry, &st),
            -kEINVAL);
  EXPECT_EQ(s.PopulateRange(bo.pages(), 16, 8, AllocClass::kNoretry, AllocClass::kNoretry, &st),
            -kEINVAL);
  EXPECT_EQ(s.PopulateRange(bo.pages(), 256, 16, AllocClass::kNoretry, AllocClass::kNoretry, &st),
            -kEINVAL)
      << "beyond the object";
  EXPECT_EQ(s.PopulateRange(bo.pages(), 0, 0, AllocClass::kNoretry, AllocClass::kNoretry, &st), 0);
  EXPECT_EQ(mem_.used_pages(), 0u);

  ASSERT_EQ(s.PopulateRange(bo.pages(), 16, 16, AllocClass::kNoretry, AllocClass::kNoretry, &st),
            0);
  EXPECT_EQ(st.pages, 16u);
  EXPECT_EQ(st.sgt_entries, 1u);
  EXPECT_EQ(bo.pages().populated(), 16u);
  EXPECT_TRUE(s.GranulePopulated(1));
  EXPECT_FALSE(s.GranulePopulated(0));
  uint64_t off, rem;
  EXPECT_EQ(s.GetSgt(16, &off, &rem), 0);
  EXPECT_EQ(off, 0u);
  EXPECT_EQ(rem, 16u);
  EXPECT_EQ(s.GetSgt(0, &off, &rem), -kENOENT);
  EXPECT_EQ(s.GetSgt(17, &off, &rem), -kEINVAL);
}

TEST_F(SparseTest, SkipsPopulatedGranulesAndCoversRunsWithOneEntry) {
  Bo bo(&mem_, 1, 1 << 20, uapi::kPanthorBoAllocOnFault, 64 << 10, 0);
  SparseBacking& s = *bo.sparse();
  PopulateStats st;
  ASSERT_EQ(s.PopulateRange(bo.pages(), 32, 16, AllocClass::kNoretry, AllocClass::kNoretry, &st),
            0);
  // Granules 0..5: 0-1 are new, 2 exists, 3-5 are new -> two new entries.
  PopulateStats st2;
  ASSERT_EQ(s.PopulateRange(bo.pages(), 0, 96, AllocClass::kNoretry, AllocClass::kNoretry, &st2),
            0);
  EXPECT_EQ(st2.pages, 80u) << "the populated granule's pages are not allocated again";
  EXPECT_EQ(st2.sgt_entries, 2u);
  EXPECT_EQ(s.sgt_entries(), 3u);
  EXPECT_EQ(s.populated_granules(), 6u);
  uint64_t off, rem;
  ASSERT_EQ(s.GetSgt(16, &off, &rem), 0);
  EXPECT_EQ(off, 16u);
  EXPECT_EQ(rem, 16u) << "granule 1 is the second half of the entry for granules 0-1";
  ASSERT_EQ(s.GetSgt(48, &off, &rem), 0);
  EXPECT_EQ(rem, 48u);
  // Populating everything again allocates nothing.
  PopulateStats st3;
  ASSERT_EQ(s.PopulateRange(bo.pages(), 0, 96, AllocClass::kNoretry, AllocClass::kNoretry, &st3),
            0);
  EXPECT_EQ(st3.pages, 0u);
  EXPECT_EQ(st3.sgt_entries, 0u);
}

TEST_F(SparseTest, FailedPopulationKeepsWhatItGotAndReleaseBalances) {
  const uint64_t before = mem_.used_pages();
  {
    Bo bo(&mem_, 1, 16 << 20, uapi::kPanthorBoAllocOnFault, 1 << 20, 0);
    int n = 0;
    mem_.set_injector([&](AllocClass cls, mem::Owner owner, uint32_t) {
      return cls == AllocClass::kNoretry && owner == mem::Owner::kBoPage && ++n > 300;
    });
    PopulateStats st;
    EXPECT_EQ(bo.sparse()->PopulateRange(bo.pages(), 0, 512, AllocClass::kNoretry,
                                         AllocClass::kNoretry, &st),
              -kENOMEM);
    EXPECT_TRUE(st.page_failed);
    EXPECT_EQ(bo.pages().populated(), 300u) << "grow-only: pages got before the failure stay";
    EXPECT_EQ(bo.sparse()->sgt_entries(), 0u);
    mem_.set_injector(nullptr);
    ASSERT_EQ(bo.sparse()->PopulateRange(bo.pages(), 0, 512, AllocClass::kNoretry,
                                         AllocClass::kNoretry, &st),
              0);
    EXPECT_EQ(bo.pages().populated(), 512u);
    EXPECT_GT(mem_.owned_pages(mem::Owner::kMetadata), 0u);
  }
  EXPECT_EQ(mem_.used_pages(), before) << "freeing the BO releases pages and metadata";
  EXPECT_EQ(mem_.metadata_bytes(), 0u);
  EXPECT_EQ(mem_.CheckInvariants(), "");
}

TEST_F(SparseTest, MetadataFailureIsReportedAsSuch) {
  Bo bo(&mem_, 1, 1 << 20, uapi::kPanthorBoAllocOnFault, 4096, 0);
  mem_.set_injector(
      [](AllocClass, mem::Owner owner, uint32_t) { return owner == mem::Owner::kMetadata; });
  PopulateStats st;
  EXPECT_EQ(
      bo.sparse()->PopulateRange(bo.pages(), 0, 1, AllocClass::kNoretry, AllocClass::kNoretry, &st),
      -kENOMEM);
  EXPECT_TRUE(st.metadata_failed);
  EXPECT_FALSE(st.page_failed);
}

TEST_F(SparseTest, ThpWithinSizeHandsOutWholeFoliosInsideTheObject) {
  mem::MemoryModel thp(mem::MemoryConfig{256ULL << 20, mem::ThpMode::kWithinSize});
  // 3 MiB: the first 2 MiB folio fits, the second (2..4 MiB) does not.
  Bo bo(&thp, 1, 3 << 20, uapi::kPanthorBoAllocOnFault, 4096, 0);
  PopulateStats st;
  ASSERT_EQ(
      bo.sparse()->PopulateRange(bo.pages(), 0, 1, AllocClass::kNoretry, AllocClass::kNoretry, &st),
      0);
  EXPECT_EQ(st.pages, 512u);
  EXPECT_TRUE(bo.pages().IsHuge(0));
  PopulateStats st2;
  ASSERT_EQ(bo.sparse()->PopulateRange(bo.pages(), 600, 1, AllocClass::kNoretry,
                                       AllocClass::kNoretry, &st2),
            0);
  EXPECT_EQ(st2.pages, 1u);
  EXPECT_FALSE(bo.pages().IsHuge(600));
}

TEST_F(SparseTest, GetPagesPopulatesTheWholeObject) {
  Bo bo(&mem_, 1, 40960, uapi::kPanthorBoAllocOnFault, 8192, 0);
  uint64_t allocated = 0;
  ASSERT_EQ(bo.GetPages(AllocClass::kBlocking, &allocated), 0);
  EXPECT_EQ(allocated, 10u);
  const char msg[] = "hello";
  bo.Write(4094, msg, sizeof(msg));
  char back[sizeof(msg)] = {};
  bo.Read(4094, back, sizeof(back));
  EXPECT_STREQ(back, msg);
}

// GetRange is Get() page by page in runs: on two memory models, pages
// touched one at a time beforehand, then the same ranges taken by runs and
// by single pages (thp on and off, into the min watermark) hand out the
// same frames, fail at the same page and leave the same contiguity.
TEST(ShmemPagesTest, RangesTakeWhatPageByPageWould) {
  for (const mem::ThpMode thp : {mem::ThpMode::kNever, mem::ThpMode::kWithinSize}) {
    mem::MemoryModel m_page(mem::MemoryConfig{24ULL << 20, thp});  // 6144 frames
    mem::MemoryModel m_run(mem::MemoryConfig{24ULL << 20, thp});
    ShmemPages by_page(&m_page, 8192), by_run(&m_run, 8192);
    uint32_t frame, got;
    for (uint64_t idx : {3u, 40u, 41u, 700u, 1030u}) {  // scattered first touches
      ASSERT_TRUE(by_page.Get(idx, AllocClass::kNoretry, &frame, &got));
      ASSERT_TRUE(by_run.Get(idx, AllocClass::kNoretry, &frame, &got));
    }
    struct Range {
      uint64_t idx, n;
    };
    for (const Range r : {Range{0, 16}, Range{32, 600}, Range{1024, 1500}, Range{2600, 5000}}) {
      uint64_t page_total = 0, run_total = 0;
      bool page_ok = true;
      for (uint64_t i = r.idx; i < r.idx + r.n && page_ok; ++i) {
        page_ok = by_page.Get(i, AllocClass::kNoretry, &frame, &got);
        page_total += page_ok ? got : 0;
      }
      const bool run_ok = by_run.GetRange(r.idx, r.n, AllocClass::kNoretry, &run_total);
      ASSERT_EQ(run_ok, page_ok) << "range at " << r.idx;
      ASSERT_EQ(run_total, page_total) << "range at " << r.idx;
    }
    EXPECT_GT(m_run.failures(), 0u) << "the last range was to reach the min watermark";
    EXPECT_EQ(m_run.free_pages(), m_page.free_pages());
    for (uint64_t i = 0; i < 8192; ++i) {
      ASSERT_EQ(by_run.FrameOf(i), by_page.FrameOf(i)) << "page " << i;
      uint64_t run = 1;
      while (i + run < 8192 && run < 700 && by_page.FrameOf(i) != kNoFrame &&
             by_page.FrameOf(i + run) == by_page.FrameOf(i) + run) {
        ++run;
      }
      ASSERT_EQ(by_run.ContiguousRun(i, 700), run) << "page " << i;
    }
  }
}

// The xarray's leaf nodes are a bitmap for objects up to 64 GiB and B-tree
// keys beyond: the same nodes (and metadata) either way.
TEST(SparseNodesTest, SmallAndHugeObjectsCountTheSameNodes) {
  mem::MemoryModel m_small(mem::MemoryConfig{256ULL << 20, mem::ThpMode::kNever});
  mem::MemoryModel m_huge(mem::MemoryConfig{256ULL << 20, mem::ThpMode::kNever});
  ShmemPages small_pages(&m_small, 1ULL << 18), huge_pages(&m_huge, 1ULL << 25);  // 1, 128 GiB
  SparseBacking small(&m_small, 16), huge(&m_huge, 16);
  uint32_t metadata_small = 0, metadata_huge = 0;
  for (uint64_t g : {0u, 1u, 5u, 64u, 4100u, 4101u, 16000u, 3u, 64u}) {
    PopulateStats a, b;
    ASSERT_EQ(small.PopulateRange(small_pages, g * 16, 16, AllocClass::kNoretry,
                                  AllocClass::kNoretry, &a),
              0);
    ASSERT_EQ(
        huge.PopulateRange(huge_pages, g * 16, 16, AllocClass::kNoretry, AllocClass::kNoretry, &b),
        0);
    EXPECT_EQ(a.metadata, b.metadata) << "granule " << g;
    metadata_small += a.metadata;
    metadata_huge += b.metadata;
  }
  EXPECT_EQ(metadata_small, metadata_huge);
  EXPECT_EQ(m_small.metadata_bytes(), m_huge.metadata_bytes());
  EXPECT_GT(metadata_small, 9u) << "new leaf nodes and their parents were counted";
}

}  // namespace
}  // namespace faultlab::gem
