// Regression statistics (issue 7; docs/regressions.md): is a new run's
// fault-latency distribution worse than its baseline's, and where in a
// series did the level shift?
//
//   Verdict v = CompareRuns(baseline_latencies, new_latencies);
//   if (v.kind == Verdict::kRegressed) ...
//   ChangePoint c = FindChangePoint(per_run_medians);
//
// Server-side code: floating point is fine here (engine/ has none in
// modelled state); every input is integer nanoseconds.
#ifndef FAULTLAB_SERVER_REGRESS_STATS_H_
#define FAULTLAB_SERVER_REGRESS_STATS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace faultlab::server {

// Mann–Whitney U of `a` against `b`, ties given mid-ranks; the normal
// approximation with the tie correction (fine for the sample sizes here,
// n >= 20 per side; below that the result says so).
struct MannWhitney {
  double u = 0;  // U of `b` (how often b beats a), ties half
  double z = 0;  // standardized, positive when b is larger
  double p_two_sided = 1;
  double cliffs_delta = 0;  // P(b > a) - P(b < a), in [-1, 1]: the effect size
  bool small_sample = false;
};
MannWhitney MannWhitneyU(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);

struct Verdict {
  enum Kind { kUnchanged, kRegressed, kImproved, kTooFewSamples };
  Kind kind = kTooFewSamples;
  MannWhitney test;
  double median_ratio = 1;  // median(new) / median(baseline)
};

// A regression (or improvement) needs both: p < `alpha` and |Cliff's delta|
// >= `min_effect` (0.147 is "small" by Romano et al.'s thresholds; 0.2 by
// default here, so that a statistically sure but tiny shift is not flagged).
Verdict CompareRuns(const std::vector<uint64_t>& baseline, const std::vector<uint64_t>& fresh,
                    double alpha = 0.01, double min_effect = 0.2);

// The single most likely level shift in `series` (e.g. per-run p50s):
// the split maximizing the two-sample t statistic of before vs after,
// with at least `min_segment` points on each side. `significant` when
// that t exceeds `t_threshold`.
struct ChangePoint {
  bool significant = false;
  size_t index = 0;  // first point after the shift
  double t = 0;
  double mean_before = 0, mean_after = 0;
};
ChangePoint FindChangePoint(const std::vector<double>& series, size_t min_segment = 3,
                            double t_threshold = 5.0);

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_REGRESS_STATS_H_
