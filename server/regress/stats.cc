#include "server/regress/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

namespace faultlab::server {
namespace {

double Median(std::vector<uint64_t> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? static_cast<double>(v[n / 2])
               : (static_cast<double>(v[n / 2 - 1]) + static_cast<double>(v[n / 2])) / 2;
}

}  // namespace

MannWhitney MannWhitneyU(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  MannWhitney r;
  const double n1 = static_cast<double>(a.size()), n2 = static_cast<double>(b.size());
  r.small_sample = a.size() < 20 || b.size() < 20;
  if (a.empty() || b.empty()) return r;
  // Pool, sort, give mid-ranks to ties; sum b's ranks.
  std::vector<std::pair<uint64_t, int>> all;
  all.reserve(a.size() + b.size());
  for (uint64_t x : a) all.push_back({x, 0});
  for (uint64_t x : b) all.push_back({x, 1});
  std::sort(all.begin(), all.end());
  double rank_sum_b = 0, tie_term = 0;
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    const double mid = (static_cast<double>(i) + 1 + static_cast<double>(j)) / 2;  // ranks i+1..j
    const double t = static_cast<double>(j - i);
    tie_term += t * t * t - t;
    for (size_t k = i; k < j; ++k) {
      if (all[k].second == 1) rank_sum_b += mid;
    }
    i = j;
  }
  r.u = rank_sum_b - n2 * (n2 + 1) / 2;
  const double n = n1 + n2;
  const double mean = n1 * n2 / 2;
  const double var = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)));
  r.z = var > 0 ? (r.u - mean) / std::sqrt(var) : 0;
  r.p_two_sided = std::erfc(std::fabs(r.z) / std::sqrt(2.0));
  r.cliffs_delta = 2 * r.u / (n1 * n2) - 1;
  return r;
}

Verdict CompareRuns(const std::vector<uint64_t>& baseline, const std::vector<uint64_t>& fresh,
                    double alpha, double min_effect) {
  Verdict v;
  v.test = MannWhitneyU(baseline, fresh);
  const double mb = Median(baseline);
  v.median_ratio = mb > 0 ? Median(fresh) / mb : 1;
  if (v.test.small_sample) {
    v.kind = Verdict::kTooFewSamples;
  } else if (v.test.p_two_sided < alpha && v.test.cliffs_delta >= min_effect) {
    v.kind = Verdict::kRegressed;  // latencies went up
  } else if (v.test.p_two_sided < alpha && v.test.cliffs_delta <= -min_effect) {
    v.kind = Verdict::kImproved;
  } else {
    v.kind = Verdict::kUnchanged;
  }
  return v;
}

ChangePoint FindChangePoint(const std::vector<double>& s, size_t min_segment, double t_threshold) {
  ChangePoint best;
  const size_t n = s.size();
  if (n < 2 * min_segment) return best;
  std::vector<double> prefix(n + 1, 0), prefix_sq(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    prefix[i + 1] = prefix[i] + s[i];
    prefix_sq[i + 1] = prefix_sq[i] + s[i] * s[i];
  }
  for (size_t k = min_segment; k + min_segment <= n; ++k) {
    const double n1 = static_cast<double>(k), n2 = static_cast<double>(n - k);
    const double m1 = prefix[k] / n1, m2 = (prefix[n] - prefix[k]) / n2;
    // Pooled variance of the two segments around their own means.
    const double ss1 = prefix_sq[k] - n1 * m1 * m1;
    const double ss2 = (prefix_sq[n] - prefix_sq[k]) - n2 * m2 * m2;
    const double pooled = std::max((ss1 + ss2) / (n1 + n2 - 2), 1e-12 * (m1 * m1 + m2 * m2 + 1));
    const double t = std::fabs(m2 - m1) / std::sqrt(pooled * (1 / n1 + 1 / n2));
    if (t > best.t) {
      best.t = t;
      best.index = k;
      best.mean_before = m1;
      best.mean_after = m2;
    }
  }
  best.significant = best.t > t_threshold;
  return best;
}

}  // namespace faultlab::server
