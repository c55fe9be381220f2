// Regression statistics on data with a known answer: hand-computed U and z,
// seeded synthetic latency runs with and without an injected shift (power
// and false-positive rate), the effect-size floor, and change points.
#include "server/regress/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace faultlab::server {
namespace {

TEST(MannWhitneyTest, HandComputedValues) {
  // b beats a in every pair.
  MannWhitney r = MannWhitneyU({1, 2, 3}, {4, 5, 6});
  EXPECT_EQ(r.u, 9);
  EXPECT_EQ(r.cliffs_delta, 1);
  EXPECT_TRUE(r.small_sample);
  // Ties count a half: b=2 beats 1 and ties two 2s (2), each 3 beats all (6).
  r = MannWhitneyU({1, 2, 2}, {2, 3, 3});
  EXPECT_EQ(r.u, 8);
  // a = 0..19, b = 10..29: U = sum over b of #a below + half #a equal = 350;
  // ten tied pairs -> tie term 60; var = 400/12 * (41 - 60/1560); z = 4.0594.
  std::vector<uint64_t> a, b;
  for (uint64_t i = 0; i < 20; ++i) {
    a.push_back(i);
    b.push_back(i + 10);
  }
  r = MannWhitneyU(a, b);
  EXPECT_EQ(r.u, 350);
  EXPECT_NEAR(r.z, 4.0594, 1e-4);
  EXPECT_NEAR(r.p_two_sided, 4.92e-5, 1e-7);
  EXPECT_DOUBLE_EQ(r.cliffs_delta, 0.75);
  EXPECT_FALSE(r.small_sample);
  // Symmetric.
  EXPECT_NEAR(MannWhitneyU(b, a).z, -r.z, 1e-12);
}

// A run's fault latencies: log-normal around `median_ns`, seeded.
std::vector<uint64_t> Latencies(std::mt19937_64& rng, double median_ns, size_t n) {
  std::lognormal_distribution<double> d(std::log(median_ns), 0.35);
  std::vector<uint64_t> v(n);
  for (uint64_t& x : v) x = static_cast<uint64_t>(d(rng));
  return v;
}

// Latencies spread with sigma 0.35 (log): +30 % is Cliff's delta ~0.4, well
// past the 0.2 floor; +15 % sits at ~0.2 and is flagged about 70 % of the
// time, by design (the floor keeps sure-but-small shifts out).
TEST(CompareRunsTest, FindsAThirtyPercentShiftAndRarelyCriesWolf) {
  int found = 0, improved = 0, false_alarms = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    std::mt19937_64 rng(seed);
    const std::vector<uint64_t> base = Latencies(rng, 36000, 500);
    found += CompareRuns(base, Latencies(rng, 36000 * 1.3, 500)).kind == Verdict::kRegressed;
    improved += CompareRuns(base, Latencies(rng, 36000 / 1.3, 500)).kind == Verdict::kImproved;
    false_alarms += CompareRuns(base, Latencies(rng, 36000, 500)).kind != Verdict::kUnchanged;
  }
  EXPECT_GE(found, 190) << "power at +30%";
  EXPECT_GE(improved, 190);
  EXPECT_LE(false_alarms, 6) << "alpha 0.01 over 200 trials expects ~2";
}

TEST(CompareRunsTest, ASureButTinyShiftIsNotARegression) {
  std::mt19937_64 rng(7);
  const std::vector<uint64_t> base = Latencies(rng, 36000, 40000);
  const Verdict v = CompareRuns(base, Latencies(rng, 36000 * 1.03, 40000));
  EXPECT_LT(v.test.p_two_sided, 0.01) << "statistically sure";
  EXPECT_LT(std::fabs(v.test.cliffs_delta), 0.2);
  EXPECT_EQ(v.kind, Verdict::kUnchanged);
  EXPECT_NEAR(v.median_ratio, 1.03, 0.01);
  EXPECT_EQ(CompareRuns({1, 2}, {3, 4}).kind, Verdict::kTooFewSamples);
}

TEST(ChangePointTest, FindsTheRunWhereTheLevelShifted) {
  int exact = 0, flat_alarms = 0;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0, 2);
    std::vector<double> series, flat;
    for (int i = 0; i < 30; ++i) {
      series.push_back((i < 18 ? 100 : 115) + noise(rng));
      flat.push_back(100 + noise(rng));
    }
    const ChangePoint c = FindChangePoint(series);
    exact += c.significant && c.index == 18;
    flat_alarms += FindChangePoint(flat).significant;
  }
  EXPECT_GE(exact, 95);
  EXPECT_LE(flat_alarms, 2);
  EXPECT_FALSE(FindChangePoint({1, 2, 3}).significant) << "too short";
}

}  // namespace
}  // namespace faultlab::server
