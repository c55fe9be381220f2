// Human-readable forms of trace data: one line per event for `faultlab dump`,
// the header as `key: value` lines, and TraceSummary for `faultlab stat`.
// Integers only, so the text of a trace is the same on every machine.
#ifndef FAULTLAB_ENGINE_TRACE_TEXT_H_
#define FAULTLAB_ENGINE_TRACE_TEXT_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/trace/event.h"
#include "engine/trace/reader.h"
#include "proto/trace.pb.h"

namespace faultlab::trace {

// "     12 t=1234 mmu_fault as=1 vm=1 addr=0x... outcome=handled ..."
std::string FormatEvent(uint64_t index, const Event& e);

// Streams a whole dump: the header lines, a "--" line, then one line per event
// (at most `limit` events; 0 = all), each passed to `emit` without a newline;
// `more` (when set) is called after each event's line with the event, to emit
// lines of its own. Returns the reader's status at the end.
absl::Status Dump(TraceReader& reader, uint64_t limit,
                  const std::function<void(absl::string_view)>& emit,
                  const std::function<void(const Event&)>& more = nullptr);

// Multi-line "key: value" description of a header.
std::string FormatHeader(const TraceHeader& h);

absl::string_view CaptureSourceName(CaptureSource s);
absl::string_view FaultOutcomeName(FaultOutcome o);

// Counts over a whole trace, fed one event at a time.
class TraceSummary {
 public:
  // Fault-latency buckets: 1 us * 2^k for k = 0..20 (DESIGN's fixed buckets),
  // plus +Inf.
  static constexpr int kLatencyBuckets = 22;

  void Add(const Event& e);
  // Multi-line text; `reader` supplies byte and chunk counts and damage.
  std::string Format(const ReaderStats& reader) const;
  // The event-derived part of a report: "key: value" lines, integers only,
  // nothing about bytes or chunks (so a replay's report equals its
  // recording's). And the same as JSON members (no braces).
  std::string ReportText() const;
  std::string ReportJson() const;

  uint64_t events() const { return events_; }
  uint64_t count(EventKind k) const { return k < 64 ? by_kind_[k] : 0; }
  uint64_t faults_by_outcome(FaultOutcome o) const { return o < 8 ? by_outcome_[o] : 0; }
  // The exact latency at `permille` (e.g. 990 for p99), nearest rank, ns.
  uint64_t LatencyQuantileNs(int permille) const;

 private:
  uint64_t events_ = 0;
  uint64_t first_ns_ = 0;
  uint64_t last_ns_ = 0;
  std::array<uint64_t, 64> by_kind_{};
  std::array<uint64_t, 8> by_outcome_{};
  std::array<uint64_t, kLatencyBuckets> latency_buckets_{};
  uint64_t latency_max_ns_ = 0;
  std::vector<uint64_t> latencies_;  // every fault's, for exact quantiles
  uint64_t latency_sum_ns_ = 0;
  uint64_t fault_pages_ = 0;
  uint64_t fault_pt_pages_ = 0;
  std::array<uint64_t, 4> alloc_failures_{};
  uint64_t heap_grow_fallbacks_ = 0;
};

}  // namespace faultlab::trace

#endif  // FAULTLAB_ENGINE_TRACE_TEXT_H_
