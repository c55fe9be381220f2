#include "lib/calibrate/calibrate.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/replay/replayer.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"

namespace faultlab::calibrate {
namespace {

// trace_pipe prints microseconds: a difference of two truncated stamps
// errs by a uniform +-1 us, variance (1 us)^2 / 6.
constexpr double kQuantVar = 1e6 / 6.0;
// At most this many replayed faults are skipped to find a recorded one.
constexpr size_t kResync = 64;

struct Recorded {
  uint64_t addr, latency_ns, work_ns;
};

absl::StatusOr<std::unique_ptr<trace::ByteSource>> Open(const TraceFile& t) {
  auto f = trace::FileSource::Open(t.path);
  if (!f.ok()) return f.status();
  if (t.bytes == 0) return std::unique_ptr<trace::ByteSource>(std::move(*f));
  return std::unique_ptr<trace::ByteSource>(
      std::make_unique<trace::LimitedSource>(std::move(*f), t.bytes));
}

// The stream's handled faults, in the order they were collected.
absl::StatusOr<std::vector<Recorded>> ReadStream(const TraceFile& t) {
  absl::StatusOr<std::unique_ptr<trace::ByteSource>> src = Open(t);
  if (!src.ok()) return src.status();
  trace::TraceReader reader(src->get(), t.label());
  if (absl::Status s = reader.Open(); !s.ok()) return s;
  if (reader.header().capture_source() != trace::CAPTURE_SOURCE_BOARD) {
    return absl::InvalidArgumentError(
        absl::StrCat(t.label(), ": a twin trace; calibration needs a board's measured latencies"));
  }
  std::vector<Recorded> out;
  trace::Event e;
  while (reader.Next(&e)) {
    if (e.kind != trace::EVENT_MMU_FAULT || e.fault.latency_source != trace::LATENCY_RECORDED)
      continue;
    // Handled ones with their times: an unhandled fault's work is cut short.
    if (e.fault.outcome != trace::FAULT_HANDLED || e.fault.raised_ns == 0 || e.fault.work_ns == 0)
      continue;
    out.push_back({e.fault.address, e.fault.latency_ns, e.fault.work_ns});
  }
  if (!reader.status().ok()) return reader.status();
  return out;
}

// Each handled fault work of a replay of `path` with `cost`.
absl::StatusOr<std::vector<fault::FaultPath::Timing>> ReplayFaults(
    const TraceFile& t, const profiles::CostModel& cost) {
  std::vector<fault::FaultPath::Timing> out;
  replay::ReplayOptions o;
  o.keep_going = true;
  o.cost_model = cost;
  o.on_fault_timing = [&out](const fault::FaultPath::Timing& t) {
    if (t.ret == 0) out.push_back(t);
  };
  replay::ReplayResult r = replay::Replay([&t] { return Open(t); }, t.label(), o);
  if (!r.status.ok()) return r.status;
  return out;
}

// Pairs recorded faults with replayed ones by address, in order; `fn` gets
// each pair. Returns the recorded ones left unpaired.
template <typename F>
uint64_t Match(const std::vector<Recorded>& rec, const std::vector<fault::FaultPath::Timing>& rep,
               F fn) {
  uint64_t unmatched = 0;
  size_t j = 0;
  for (const Recorded& r : rec) {
    size_t k = j;
    while (k < rep.size() && k < j + kResync && rep[k].addr != r.addr) ++k;
    if (k < rep.size() && rep[k].addr == r.addr) {
      fn(r, rep[k]);
      j = k + 1;
    } else {
      ++unmatched;
    }
  }
  return unmatched;
}

// A replayed fault's latency as trace_pipe would print it: each stamp to
// the microsecond.
uint64_t StampedLatency(const fault::FaultPath::Timing& t) {
  return (t.end_ns / 1000 - t.irq_ns / 1000) * 1000;
}

// Each trace's recorded handled faults paired with a replay's (with `cost`):
// `fn` gets each pair; the counts of recorded and unpaired faults grow.
template <typename F>
absl::Status EachPair(const std::vector<TraceFile>& traces, const profiles::CostModel& cost,
                      uint64_t* recorded, uint64_t* unmatched, F fn) {
  for (const TraceFile& t : traces) {
    absl::StatusOr<std::vector<Recorded>> rec = ReadStream(t);
    if (!rec.ok()) return rec.status();
    absl::StatusOr<std::vector<fault::FaultPath::Timing>> rep = ReplayFaults(t, cost);
    if (!rep.ok()) return rep.status();
    *recorded += rec->size();
    *unmatched += Match(*rec, *rep, fn);
  }
  return absl::OkStatus();
}

// Solves the n x n system a x = b (Gaussian elimination with partial
// pivoting); false when singular.
bool Solve(std::vector<std::vector<double>> a, std::vector<double> b, std::vector<double>* x) {
  const size_t n = b.size();
  for (size_t c = 0; c < n; ++c) {
    size_t p = c;
    for (size_t r = c + 1; r < n; ++r) {
      if (std::fabs(a[r][c]) > std::fabs(a[p][c])) p = r;
    }
    if (std::fabs(a[p][c]) < 1e-12) return false;
    std::swap(a[p], a[c]);
    std::swap(b[p], b[c]);
    for (size_t r = c + 1; r < n; ++r) {
      const double f = a[r][c] / a[c][c];
      for (size_t k = c; k < n; ++k) a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  x->assign(n, 0);
  for (size_t c = n; c-- > 0;) {
    double s = b[c];
    for (size_t k = c + 1; k < n; ++k) s -= a[c][k] * (*x)[k];
    (*x)[c] = s / a[c][c];
  }
  return true;
}

// Least squares y ~ X over the columns `use` (the others' coefficients 0):
// coefficients, and their variances given the residual variance.
struct Ols {
  std::vector<double> beta, var;
  double residual_var = 0;
  bool ok = false;
};
Ols LeastSquares(const std::vector<std::vector<double>>& x, const std::vector<double>& y,
                 const std::vector<bool>& use) {
  std::vector<size_t> cols;
  for (size_t c = 0; c < use.size(); ++c) {
    if (use[c]) cols.push_back(c);
  }
  const size_t m = cols.size();
  std::vector<std::vector<double>> xtx(m, std::vector<double>(m, 0));
  std::vector<double> xty(m, 0);
  for (size_t i = 0; i < y.size(); ++i) {
    for (size_t a = 0; a < m; ++a) {
      xty[a] += x[i][cols[a]] * y[i];
      for (size_t b = 0; b < m; ++b) xtx[a][b] += x[i][cols[a]] * x[i][cols[b]];
    }
  }
  Ols o;
  std::vector<double> beta;
  if (!Solve(xtx, xty, &beta)) return o;
  o.beta.assign(use.size(), 0);
  for (size_t a = 0; a < m; ++a) o.beta[cols[a]] = beta[a];
  double rss = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    double f = 0;
    for (size_t c = 0; c < use.size(); ++c) f += x[i][c] * o.beta[c];
    rss += (y[i] - f) * (y[i] - f);
  }
  o.residual_var = y.size() > m ? rss / static_cast<double>(y.size() - m) : 0;
  // Var(beta_a) = s^2 [(X'X)^-1]_aa: one solve per column.
  o.var.assign(use.size(), 0);
  for (size_t a = 0; a < m; ++a) {
    std::vector<double> e(m, 0), col;
    e[a] = 1;
    if (Solve(xtx, e, &col)) o.var[cols[a]] = o.residual_var * col[a];
  }
  o.ok = true;
  return o;
}

// Whether column `c` varies apart from the others in `use`: its residual
// after regressing it on them keeps at least 1% of its spread.
bool Separable(const std::vector<std::vector<double>>& x, size_t c, std::vector<bool> use) {
  use[c] = false;
  std::vector<double> y;
  for (const auto& row : x) y.push_back(row[c]);
  double mean = 0, spread = 0;
  for (double v : y) mean += v;
  mean /= static_cast<double>(y.size());
  for (double v : y) spread += (v - mean) * (v - mean);
  if (spread <= 0) return false;
  Ols o = LeastSquares(x, y, use);
  if (!o.ok) return true;
  return o.residual_var * static_cast<double>(y.size()) > 1e-4 * spread;
}

profiles::CostRange RangeOf(double mean, double var) {
  const double half = std::sqrt(std::max(var, 0.0) * 3.0);
  const double lo = std::max(mean - half, 0.0), hi = std::max(mean + half, lo);
  return {static_cast<uint64_t>(std::llround(lo)), static_cast<uint64_t>(std::llround(hi))};
}

}  // namespace

std::vector<TraceFile> Files(const std::vector<std::string>& paths) {
  std::vector<TraceFile> out;
  for (const std::string& p : paths) out.push_back({p, 0, ""});
  return out;
}

absl::StatusOr<Collected> Collect(const std::vector<TraceFile>& traces,
                                  const profiles::CostModel& base) {
  Collected c;
  absl::Status s = EachPair(traces, base, &c.recorded, &c.unmatched,
                            [&c](const Recorded& r, const fault::FaultPath::Timing& t) {
                              c.samples.push_back({r.latency_ns, r.work_ns, t.pages, t.pt_pages,
                                                   t.metadata, t.ptes, StampedLatency(t)});
                            });
  if (!s.ok()) return s;
  c.traces = traces.size();
  return c;
}

absl::StatusOr<Fit> FitCosts(const std::vector<Sample>& samples, const profiles::CostModel& base) {
  if (samples.size() < 100) {
    return absl::FailedPreconditionError(
        absl::StrCat(samples.size(), " measured faults matched; calibration needs at least 100"));
  }
  // The work: flush + (pages + pt_pages) page_alloc + metadata metadata_alloc + ptes pte_update.
  enum { kFlush, kPage, kMeta, kPte, kCols };
  std::vector<std::vector<double>> x, x2;
  std::vector<double> w, d;
  for (const Sample& s : samples) {
    const double pages = s.pages + s.pt_pages;
    x.push_back({1.0, pages, static_cast<double>(s.metadata), static_cast<double>(s.ptes)});
    // One draw per cost, times its count: a count's square multiplies its variance.
    x2.push_back({1.0, double(s.pages) * s.pages + double(s.pt_pages) * s.pt_pages,
                  double(s.metadata) * s.metadata, double(s.ptes) * s.ptes});
    w.push_back(static_cast<double>(s.work_ns));
    d.push_back(static_cast<double>(s.latency_ns) - static_cast<double>(s.work_ns));
  }
  // A count that never varies apart from the others' (or at all) cannot be
  // told from them: only a sum is known. The first of such a group stays in
  // the regression (so that the rest are estimated right); none of the
  // group is fitted. A constant count also merges with flush.
  const char* name_of[kCols] = {"flush", "page_alloc", "metadata_alloc", "pte_update"};
  std::vector<bool> use(kCols, true), tied(kCols, false);
  std::vector<std::string> why(kCols);
  for (size_t c = kPage; c < kCols; ++c) tied[c] = !Separable(x, c, use);
  std::vector<std::string> group;
  for (size_t c = kPage; c < kCols; ++c) {
    if (tied[c]) group.push_back(name_of[c]);
  }
  bool kept_one = false;
  for (size_t c = kPage; c < kCols; ++c) {
    if (!tied[c]) continue;
    double lo = x[0][c], hi = x[0][c];
    for (const auto& row : x) lo = std::min(lo, row[c]), hi = std::max(hi, row[c]);
    if (lo == hi) {  // constant: part of flush's
      use[c] = false;
      why[c] = absl::StrCat("its count is always ", lo, ": part of flush's estimate");
      if (lo > 0) {
        tied[kFlush] = true;
        why[kFlush] = absl::StrCat("includes ", name_of[c], " x ", lo, " (a constant count)");
      }
      continue;
    }
    use[c] = !kept_one;
    kept_one = true;
    why[c] = absl::StrCat("its count never varies apart from the others' (",
                          absl::StrJoin(group, ", "), "): only their sum is known");
  }
  Ols mean = LeastSquares(x, w, use);
  if (!mean.ok) return absl::FailedPreconditionError("the faults' counts do not separate any cost");
  // Variances from the squared residuals.
  std::vector<double> r2;
  for (size_t i = 0; i < w.size(); ++i) {
    double f = 0;
    for (size_t c = 0; c < kCols; ++c) f += x[i][c] * mean.beta[c];
    r2.push_back((w[i] - f) * (w[i] - f));
  }
  Ols var = LeastSquares(x2, r2, use);
  std::vector<double> v = var.ok ? var.beta : std::vector<double>(kCols, 0);
  v[kFlush] -= kQuantVar;
  // A cost whose estimate is too uncertain to claim: its relative standard error.
  const profiles::CostRange* base_of[kCols] = {&base.flush, &base.page_alloc, &base.metadata_alloc,
                                               &base.pte_update};
  const char* key_of[kCols] = {"cost.flush_ns", "cost.page_alloc_ns", "cost.metadata_alloc_ns",
                               "cost.pte_update_ns"};
  Fit fit;
  fit.cost = base;
  fit.samples = samples.size();
  profiles::CostRange* out_of[kCols] = {&fit.cost.flush, &fit.cost.page_alloc,
                                        &fit.cost.metadata_alloc, &fit.cost.pte_update};
  for (size_t c = 0; c < kCols; ++c) {
    Param p{key_of[c], *base_of[c], *base_of[c], false, why[c]};
    const double se = std::sqrt(std::max(mean.var[c], 0.0));
    const double rel = mean.beta[c] > 0 ? se / mean.beta[c] : 1e9;
    if (tied[c]) {
      // not fitted: why[c] says why
    } else if (use[c] && rel > 0.03) {
      p.note = absl::StrFormat("too uncertain at this data's resolution (mean %.0f ns +- %.0f%%)",
                               mean.beta[c], 100 * rel);
    } else if (use[c]) {
      p.fitted = RangeOf(mean.beta[c], v[c]);
      p.fitted_here = true;
      *out_of[c] = p.fitted;
      p.note = absl::StrFormat("mean %.0f ns +- %.1f%%", mean.beta[c], 100 * rel);
    }
    fit.params.push_back(p);
  }
  // The work queue: what lies between the IRQ handler and the work.
  double dm = 0, dv = 0;
  for (double e : d) dm += e;
  dm /= static_cast<double>(d.size());
  for (double e : d) dv += (e - dm) * (e - dm);
  dv = dv / static_cast<double>(d.size() - 1) - kQuantVar;
  Param wq{"cost.workqueue_delay_ns", base.workqueue_delay, RangeOf(dm, dv), true,
           absl::StrFormat("mean %.0f ns over %d faults", dm, d.size())};
  fit.cost.workqueue_delay = wq.fitted;
  fit.params.push_back(wq);
  fit.params.push_back({"cost.irq_entry_ns", base.irq_entry, base.irq_entry, false,
                        "the GPU's raise is not seen from the CPU: kept"});
  fit.params.push_back({"cost.huge_alloc_ns", base.huge_alloc, base.huge_alloc, false,
                        "no 2 MiB folio in these faults (thp off): kept"});
  return fit;
}

double KsDistance(std::vector<uint64_t> a, std::vector<uint64_t> b) {
  if (a.empty() || b.empty()) return 1.0;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  size_t i = 0, j = 0;
  double worst = 0;
  while (i < a.size() && j < b.size()) {
    const uint64_t v = std::min(a[i], b[j]);
    while (i < a.size() && a[i] == v) ++i;
    while (j < b.size() && b[j] == v) ++j;
    const double gap =
        std::fabs(static_cast<double>(i) / a.size() - static_cast<double>(j) / b.size());
    worst = std::max(worst, gap);
  }
  return worst;
}

absl::StatusOr<std::vector<uint64_t>> ReplayedLatencies(const std::vector<TraceFile>& traces,
                                                        const profiles::CostModel& cost) {
  std::vector<uint64_t> out;
  uint64_t recorded = 0, unmatched = 0;
  absl::Status s = EachPair(traces, cost, &recorded, &unmatched,
                            [&out](const Recorded&, const fault::FaultPath::Timing& t) {
                              out.push_back(StampedLatency(t));
                            });
  if (!s.ok()) return s;
  return out;
}

std::string WriteProfile(const std::string& base_text, const std::string& id, const Fit& fit,
                         const std::string& comment) {
  std::map<std::string, profiles::CostRange> fitted;
  for (const Param& p : fit.params) {
    if (p.fitted_here) fitted[p.key] = p.fitted;
  }
  std::string out;
  for (absl::string_view line : absl::StrSplit(comment, '\n', absl::SkipEmpty()))
    absl::StrAppend(&out, "# ", line, "\n");
  for (absl::string_view line : absl::StrSplit(base_text, '\n')) {
    const std::string key(absl::StripAsciiWhitespace(line.substr(0, line.find('='))));
    if (line.find('=') != absl::string_view::npos && key == "id") {
      absl::StrAppend(&out, "id = ", id, "\n");
    } else if (line.find('=') != absl::string_view::npos && fitted.count(key)) {
      const profiles::CostRange& r = fitted[key];
      absl::StrAppend(&out, key, " = ", r.min_ns, "..", r.max_ns, "\n");
    } else {
      absl::StrAppend(&out, line, "\n");
    }
  }
  while (absl::EndsWith(out, "\n\n")) out.pop_back();
  return out;
}

std::string Calibration::Summary() const {
  auto range = [](const profiles::CostRange& r) { return absl::StrCat(r.min_ns, "..", r.max_ns); };
  std::string out = absl::StrFormat(
      "calibrate: %d trace(s), %d measured handled faults, %d matched to the twin's replay "
      "(%d not), base profile %s\n",
      collected.traces, collected.recorded, collected.samples.size(), collected.unmatched, base_id);
  absl::StrAppendFormat(&out, "%-26s %-16s %-16s %s\n", "parameter", "base", "calibrated", "how");
  for (const Param& p : fit.params) {
    absl::StrAppendFormat(&out, "%-26s %-16s %-16s %s\n", p.key, range(p.base),
                          p.fitted_here ? range(p.fitted) : "(kept)", p.note);
  }
  absl::StrAppendFormat(&out, "ks_distance.base: %.4f\nks_distance.calibrated: %.4f\n", ks_base,
                        ks_calibrated);
  return out;
}

absl::StatusOr<Calibration> Calibrate(const std::vector<TraceFile>& traces,
                                      const std::string& base_id, const std::string& base_text,
                                      const std::string& id, const std::string& by) {
  absl::StatusOr<profiles::Profile> base = profiles::ParseProfile(base_text, base_id);
  if (!base.ok()) return base.status();
  Calibration c;
  c.base_id = base_id;
  absl::StatusOr<Collected> collected = Collect(traces, base->cost);
  if (!collected.ok()) return collected.status();
  c.collected = std::move(*collected);
  absl::StatusOr<Fit> fit = FitCosts(c.collected.samples, base->cost);
  if (!fit.ok()) return fit.status();
  c.fit = std::move(*fit);
  // The base costs' replay is the one Collect made; the fitted costs' is one more.
  std::vector<uint64_t> measured, before;
  for (const Sample& s : c.collected.samples) {
    measured.push_back(s.latency_ns);
    before.push_back(s.replayed_ns);
  }
  absl::StatusOr<std::vector<uint64_t>> after = ReplayedLatencies(traces, c.fit.cost);
  if (!after.ok()) return after.status();
  c.ks_base = KsDistance(measured, before);
  c.ks_calibrated = KsDistance(measured, *after);
  std::vector<std::string> names, keys;
  for (const TraceFile& t : traces) names.push_back(t.label());
  for (const Param& p : c.fit.params) {
    if (p.fitted_here) keys.push_back(p.key);
  }
  const std::string comment = absl::StrFormat(
      "Calibrated by %s from %d measured faults of %d board trace(s)\n"
      "(%s) on profile %s. Kolmogorov-Smirnov distance between the measured and the\n"
      "replayed fault latencies: %.4f with %s's costs, %.4f with these. Fitted: %s.\n",
      by, c.collected.samples.size(), traces.size(), absl::StrJoin(names, ", "), base_id, c.ks_base,
      base_id, c.ks_calibrated, absl::StrJoin(keys, ", "));
  c.profile = WriteProfile(base_text, id, c.fit, comment);
  // What it wrote must load (a profile the CLI, agent and server accept).
  if (absl::Status s = profiles::ParseProfile(c.profile, id).status(); !s.ok()) return s;
  return c;
}

}  // namespace faultlab::calibrate
