// Calibration's fit on samples drawn (seeded) from known ranges the way the
// fault path draws them: each cost one uniform draw times its count. What
// the counts separate is recovered within a few percent; what they cannot
// (a count that never varies apart from another) is kept and said; the KS
// distance is what its definition says.
#include "lib/calibrate/calibrate.h"

#include <gtest/gtest.h>

#include <random>

namespace faultlab::calibrate {
namespace {

profiles::CostModel Truth() {
  profiles::CostModel m;
  m.flush = {4000, 16000};
  m.page_alloc = {300, 900};
  m.metadata_alloc = {100, 4000};
  m.pte_update = {200, 800};
  m.workqueue_delay = {6000, 40000};
  m.irq_entry = {1500, 4000};
  return m;
}

// `n` faults whose counts cycle through `shapes` {pages, pt_pages, metadata, ptes}.
std::vector<Sample> Draw(size_t n, const std::vector<std::array<uint32_t, 4>>& shapes) {
  const profiles::CostModel t = Truth();
  std::mt19937_64 rng(42);
  auto draw = [&rng](const profiles::CostRange& r) {
    return r.min_ns + rng() % (r.max_ns - r.min_ns + 1);
  };
  std::vector<Sample> out;
  for (size_t i = 0; i < n; ++i) {
    const auto& s = shapes[i % shapes.size()];
    Sample x;
    x.pages = s[0], x.pt_pages = s[1], x.metadata = s[2], x.ptes = s[3];
    x.work_ns = draw(t.flush) + s[0] * draw(t.page_alloc) + s[1] * draw(t.page_alloc) +
                s[2] * draw(t.metadata_alloc) + s[3] * draw(t.pte_update);
    x.latency_ns = x.work_ns + draw(t.workqueue_delay);
    out.push_back(x);
  }
  return out;
}

const Param& Find(const Fit& f, const std::string& key) {
  for (const Param& p : f.params) {
    if (p.key == key) return p;
  }
  static const Param none;
  return none;
}

void ExpectNear(const profiles::CostRange& got, const profiles::CostRange& want, double tol) {
  EXPECT_NEAR(static_cast<double>(got.min_ns), static_cast<double>(want.min_ns),
              tol * static_cast<double>(want.max_ns));
  EXPECT_NEAR(static_cast<double>(got.max_ns), static_cast<double>(want.max_ns),
              tol * static_cast<double>(want.max_ns));
}

TEST(CalibrateTest, VariedCountsRecoverEveryCost) {
  profiles::CostModel base;  // all zero: nothing of the truth leaks in
  const std::vector<Sample> s = Draw(40000, {{1, 0, 0, 1},
                                             {16, 0, 1, 16},
                                             {0, 0, 0, 16},
                                             {1, 1, 2, 1},
                                             {16, 1, 3, 16},
                                             {64, 0, 1, 64},
                                             {0, 0, 0, 64}});
  absl::StatusOr<Fit> f = FitCosts(s, base);
  ASSERT_TRUE(f.ok()) << f.status();
  for (const char* key :
       {"cost.flush_ns", "cost.page_alloc_ns", "cost.pte_update_ns", "cost.workqueue_delay_ns"}) {
    EXPECT_TRUE(Find(*f, key).fitted_here) << key << ": " << Find(*f, key).note;
  }
  ExpectNear(f->cost.flush, Truth().flush, 0.1);
  ExpectNear(f->cost.page_alloc, Truth().page_alloc, 0.1);
  ExpectNear(f->cost.pte_update, Truth().pte_update, 0.1);
  ExpectNear(f->cost.workqueue_delay, Truth().workqueue_delay, 0.1);
  EXPECT_FALSE(Find(*f, "cost.irq_entry_ns").fitted_here);
}

TEST(CalibrateTest, CountsThatMoveTogetherAreNotSeparated) {
  profiles::CostModel base = Truth();
  base.pte_update = {1, 2};
  // Every fault maps as many PTEs as it allocates pages.
  const std::vector<Sample> s = Draw(20000, {{1, 0, 0, 1}, {16, 0, 1, 16}, {4, 0, 1, 4}});
  absl::StatusOr<Fit> f = FitCosts(s, base);
  ASSERT_TRUE(f.ok()) << f.status();
  const Param& pte = Find(*f, "cost.pte_update_ns");
  EXPECT_FALSE(pte.fitted_here);
  EXPECT_NE(pte.note.find("never varies apart"), std::string::npos) << pte.note;
  EXPECT_EQ(f->cost.pte_update.max_ns, 2u);  // kept
}

TEST(CalibrateTest, TooFewFaultsIsAnError) {
  EXPECT_EQ(FitCosts(Draw(50, {{1, 0, 0, 1}}), Truth()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CalibrateTest, KolmogorovSmirnovDistance) {
  EXPECT_DOUBLE_EQ(KsDistance({1, 2, 3}, {1, 2, 3}), 0.0);
  EXPECT_DOUBLE_EQ(KsDistance({1, 2}, {3, 4}), 1.0);
  EXPECT_DOUBLE_EQ(KsDistance({1, 2, 3, 4}, {3, 4, 5, 6}), 0.5);
  EXPECT_DOUBLE_EQ(KsDistance({}, {1}), 1.0);
}

TEST(CalibrateTest, TheProfileKeepsTheBaseAndTakesTheFit) {
  Fit f;
  f.params.push_back({"cost.flush_ns", {1, 2}, {10, 20}, true, ""});
  f.params.push_back({"cost.pte_update_ns", {1, 2}, {30, 40}, false, ""});
  const std::string text =
      WriteProfile("# base\nid = g610\nname = x\ncost.flush_ns = 1..2\ncost.pte_update_ns = 1..2\n",
                   "mine", f, "fitted\nhere");
  EXPECT_EQ(text,
            "# fitted\n# here\n# base\nid = mine\nname = x\ncost.flush_ns = 10..20\n"
            "cost.pte_update_ns = 1..2\n");
}

}  // namespace
}  // namespace faultlab::calibrate
