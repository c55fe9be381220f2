#include "server/regress/analyzer.h"

#include <algorithm>
#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/trace/reader.h"
#include "server/regress/stats.h"

namespace faultlab::server {

uint64_t QuantileNs(const std::vector<uint64_t>& sorted, int permille) {
  if (sorted.empty()) return 0;
  const uint64_t n = sorted.size();
  const uint64_t rank = (n * static_cast<uint64_t>(permille) + 999) / 1000;  // ceil
  return sorted[rank == 0 ? 0 : rank - 1];
}

RunAnalyzer::RunAnalyzer(Store* store, ServerMetrics* metrics, AnalyzerOptions options,
                         bool start_thread)
    : store_(store), metrics_(metrics), options_(options) {
  if (start_thread) thread_ = std::thread([this] { Run(); });
}

RunAnalyzer::~RunAnalyzer() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

void RunAnalyzer::Stop() {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

void RunAnalyzer::Enqueue(const std::string&) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
    drained_ = false;
  }
  cv_.notify_one();
}

absl::Status RunAnalyzer::EnqueuePending() {
  Enqueue("");
  return absl::OkStatus();
}

void RunAnalyzer::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return drained_ && !busy_; });
}

void RunAnalyzer::Run() {
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      seen = wakeups_;
      busy_ = true;
    }
    bool found = false;
    absl::StatusOr<bool> lead = store_->LeadAnalysis();
    if (lead.ok() && *lead) {
      absl::StatusOr<std::vector<std::string>> ids = store_->PendingRuns();
      if (ids.ok()) {
        for (const std::string& id : *ids) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            if (stop_) break;
          }
          if (failed_.count(id)) continue;  // said once; not retried until restart
          absl::StatusOr<RunRecord> r = Analyze(id);
          if (absl::IsCancelled(r.status())) break;
          if (r.ok()) {
            found = true;
            continue;
          }
          std::cerr << "faultlab-server: run " << absl::BytesToHexString(id) << ": "
                    << r.status().message() << "\n";
          // A store error (a full disk, a lost database) is tried again on
          // the next pass, a second on, from this run: runs are judged in
          // completion order. A damaged trace is left out for good.
          if (absl::IsUnavailable(r.status()) || absl::IsResourceExhausted(r.status())) break;
          failed_.insert(id);
          found = true;
        }
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    busy_ = false;
    // Idle when a pass found nothing (or another replica leads).
    if (!found && wakeups_ == seen) drained_ = true;
    idle_cv_.notify_all();
    if (found) continue;
    cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_ || wakeups_ != seen; });
  }
}

absl::StatusOr<RunRecord> RunAnalyzer::Analyze(const std::string& trace_id) {
  absl::StatusOr<TraceRecord> t = store_->GetTrace(trace_id);
  if (!t.ok()) return t.status();
  if (!t->complete) return absl::FailedPreconditionError("trace not complete");
  const trace::TraceHeader& h = t->header;
  RunRecord run;
  run.trace_id = trace_id;
  run.board = h.board();
  run.gpu = h.profile();
  run.workload = h.workload();
  run.variant = h.variant();
  run.policy = h.policy();

  // Measure: the recorded faults and allocation failures.
  absl::StatusOr<std::unique_ptr<trace::ByteSource>> src = store_->OpenTrace(trace_id);
  if (!src.ok()) return src.status();
  trace::TraceReader reader(src->get(), absl::BytesToHexString(trace_id));
  if (absl::Status s = reader.Open(); !s.ok()) return s;
  ReplayTally tally;
  trace::Event e;
  while (reader.Next(&e)) {
    if ((reader.event_index() & 0xffff) == 0 && stopping_) {
      return absl::CancelledError("the server is stopping");
    }
    tally.Add(e);
    if (e.kind == trace::EVENT_MMU_FAULT && e.fault.outcome > 0 &&
        e.fault.latency_source !=
            trace::LATENCY_UNKNOWN) {  // (a board's kernel-log fault has none)
      run.latencies.push_back(e.fault.latency_ns);
    }
  }
  if (!reader.status().ok()) return reader.status();
  std::sort(run.latencies.begin(), run.latencies.end());
  run.faults = 0;
  for (uint64_t n : tally.faults) run.faults += n;  // with or without a latency
  for (uint64_t n : tally.alloc_failures) run.alloc_failures += n;
  run.p50_ns = QuantileNs(run.latencies, 500);
  run.p90_ns = QuantileNs(run.latencies, 900);
  run.p99_ns = QuantileNs(run.latencies, 990);
  run.max_ns = run.latencies.empty() ? 0 : run.latencies.back();

  // Judge: against the previous N runs of the series.
  RunFilter f;
  f.board = run.board;
  f.gpu = run.gpu;
  f.workload = run.workload;
  f.variant = run.variant;
  f.policy = run.policy;
  // The window's p50s suffice for the change point; only the baseline's
  // latencies are read (below).
  f.limit = std::max(options_.baseline_runs, options_.change_point_window) + 1;
  absl::StatusOr<std::vector<RunRecord>> earlier = store_->ListRuns(f);
  if (!earlier.ok()) return earlier.status();
  // A re-analysis (after a crash between save and ack) must not see itself.
  earlier->erase(std::remove_if(earlier->begin(), earlier->end(),
                                [&](const RunRecord& r) { return r.trace_id == trace_id; }),
                 earlier->end());
  const size_t nb = std::min<size_t>(earlier->size(), options_.baseline_runs);
  run.baseline_runs = nb;
  if (nb < options_.baseline_runs) {
    run.verdict = "insufficient_baseline";
  } else {
    std::vector<uint64_t> baseline;
    for (size_t i = earlier->size() - nb; i < earlier->size(); ++i) {
      absl::StatusOr<RunRecord> b = store_->GetRun((*earlier)[i].trace_id, /*with_latencies=*/true);
      if (!b.ok()) return b.status();
      baseline.insert(baseline.end(), b->latencies.begin(), b->latencies.end());
    }
    const Verdict v = CompareRuns(baseline, run.latencies, options_.alpha, options_.min_effect);
    run.p_value = v.test.p_two_sided;
    run.cliffs_delta = v.test.cliffs_delta;
    run.median_ratio = v.median_ratio;
    switch (v.kind) {
      case Verdict::kRegressed:
        run.verdict = "regressed";
        break;
      case Verdict::kImproved:
        run.verdict = "improved";
        break;
      case Verdict::kUnchanged:
        run.verdict = "unchanged";
        break;
      case Verdict::kTooFewSamples:
        run.verdict = "too_few_samples";
        break;
    }
  }
  // Where did the level shift, over the series up to this run?
  {
    const size_t window = std::min<size_t>(earlier->size(), options_.change_point_window - 1);
    std::vector<double> p50s;
    std::vector<const std::string*> ids;
    for (size_t i = earlier->size() - window; i < earlier->size(); ++i) {
      p50s.push_back(static_cast<double>((*earlier)[i].p50_ns));
      ids.push_back(&(*earlier)[i].trace_id);
    }
    p50s.push_back(static_cast<double>(run.p50_ns));
    ids.push_back(&run.trace_id);
    const ChangePoint c = FindChangePoint(p50s);
    if (c.significant) run.change_point = *ids[c.index];
  }
  if (absl::Status s = store_->SaveRun(&run); !s.ok()) return s;
  if (metrics_) {
    metrics_->AddRun({run.board, run.gpu, run.workload, run.variant, run.policy}, tally, run);
  }
  return run;
}

}  // namespace faultlab::server
