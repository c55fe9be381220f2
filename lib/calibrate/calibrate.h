// Calibration (docs/cost-model.md "Calibration"): fits the fault path's
// cost ranges to the latencies a board measured (its traces' fault stream,
// docs/board.md), using the twin's replay of the same traces for what each
// fault did (pages, page-table pages, metadata, PTEs). Outside the engine:
// it fits in floating point; what it writes is a profile of integer ranges.
//
// The model it fits is the fault path's own (engine/fault/fault_path.cc):
// a fault's work is  flush + (pages + pt_pages) x page_alloc +
// metadata x metadata_alloc + ptes x pte_update, each cost one uniform draw
// from its range; from the IRQ handler to the work is workqueue_delay.
// Means come from least squares on those counts, range widths from the
// residuals' variance (a uniform range's is width^2/12); the microsecond
// resolution of trace_pipe is allowed for. A parameter the data cannot
// separate (its count never varies apart from others, or its estimate is
// too uncertain) keeps the base profile's range, and the fit says so.
#ifndef FAULTLAB_LIB_CALIBRATE_CALIBRATE_H_
#define FAULTLAB_LIB_CALIBRATE_CALIBRATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/profiles/profile.h"

namespace faultlab::calibrate {

// A board trace to calibrate from: a file, its first `bytes` (0: all of it;
// the server's stored traces end where their acknowledged chunks do).
struct TraceFile {
  std::string path;
  uint64_t bytes = 0;
  std::string name;  // in messages and the profile's comment (default: path)
  const std::string& label() const { return name.empty() ? path : name; }
};
std::vector<TraceFile> Files(const std::vector<std::string>& paths);

// One handled fault of a board's stream, matched to the twin's replay of it.
struct Sample {
  uint64_t latency_ns = 0;  // measured: IRQ handler to the end of the work
  uint64_t work_ns = 0;     // measured: the work alone
  uint32_t pages = 0, pt_pages = 0, metadata = 0, ptes = 0;  // the twin's counts
  uint64_t replayed_ns = 0;  // the twin's latency with the base costs, stamped to the us
};

// What a set of board traces gives: their matched samples, and what did not
// match (a recorded fault the replay did not make at that point, or one
// without its address and time).
struct Collected {
  std::vector<Sample> samples;
  uint64_t recorded = 0;   // handled faults of the stream
  uint64_t unmatched = 0;  // of those, not paired with a replayed fault
  uint64_t traces = 0;
};
// Replays each trace (under its recorded configuration, with `base`'s
// costs) and pairs its recorded stream's handled faults with the replay's,
// in order, by address. An error names the trace.
absl::StatusOr<Collected> Collect(const std::vector<TraceFile>& traces,
                                  const profiles::CostModel& base);

struct Param {
  std::string key;  // the profile key, e.g. cost.page_alloc_ns
  profiles::CostRange base, fitted;
  bool fitted_here = false;  // false: kept from the base profile
  std::string note;          // why not, or how sure (the estimate's relative error)
};

struct Fit {
  std::vector<Param> params;
  profiles::CostModel cost;  // the base's with the fitted ranges in
  uint64_t samples = 0;
};
// Needs at least 100 samples (FAILED_PRECONDITION otherwise).
absl::StatusOr<Fit> FitCosts(const std::vector<Sample>& samples, const profiles::CostModel& base);

// The two-sample Kolmogorov–Smirnov distance: the largest gap between the
// empirical distributions of `a` and `b` (0..1).
double KsDistance(std::vector<uint64_t> a, std::vector<uint64_t> b);

// The latencies the twin gives the traces' matched faults with `cost`, at
// the trace's microsecond resolution (for a KS distance with the measured).
absl::StatusOr<std::vector<uint64_t>> ReplayedLatencies(const std::vector<TraceFile>& traces,
                                                        const profiles::CostModel& cost);

// A profile file: `base_text` (a profile's text) with id `id` and the
// fitted cost lines, after a comment block saying how it was fitted.
std::string WriteProfile(const std::string& base_text, const std::string& id, const Fit& fit,
                         const std::string& comment);

// The whole calibration, as `faultlab calibrate` and the server run it:
// collect, fit, the KS distances before and after, and the profile.
struct Calibration {
  std::string base_id;
  Collected collected;
  Fit fit;
  double ks_base = 0, ks_calibrated = 0;
  std::string profile;  // the profile file's text (id `id`)
  // What the fit found, as lines: the counts, one row per parameter
  // (base, calibrated or "(kept)", how), and the two KS distances.
  std::string Summary() const;
};
// `base_text` is profile `base_id`'s text (profiles::ProfileText); `by` says
// who calibrated, for the profile's comment ("'faultlab calibrate'").
absl::StatusOr<Calibration> Calibrate(const std::vector<TraceFile>& traces,
                                      const std::string& base_id, const std::string& base_text,
                                      const std::string& id, const std::string& by);

}  // namespace faultlab::calibrate

#endif  // FAULTLAB_LIB_CALIBRATE_CALIBRATE_H_
