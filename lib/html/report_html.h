// HTML reports (docs/reports.md): one self-contained page per run — inline
// SVG drawn here, no scripts, no network fetches — with the configuration,
// the fault-latency histogram (DESIGN's 1 us * 2^k buckets) and CDF, faults
// and allocation failures over virtual time, per-frame faults, the replay
// report and any divergence; or two runs side by side (`faultlab diff A B
// --html`). The same pages are served by faultlab-server.
//
//   absl::StatusOr<RunData> run = CollectRun(open, "game.fltrace", {});
//   std::string page = ReportPage(*run);
//
// Coordinates are integers: the same trace gives the same bytes anywhere.
#ifndef FAULTLAB_LIB_HTML_REPORT_HTML_H_
#define FAULTLAB_LIB_HTML_REPORT_HTML_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/replay/replayer.h"
#include "engine/trace/io.h"
#include "proto/trace.pb.h"

namespace faultlab::html {

struct FaultPoint {
  uint64_t t_ns;
  uint64_t latency_ns;
  int outcome;  // trace::FaultOutcome
};

struct FrameStat {
  uint64_t id = 0;
  uint64_t faults = 0;
  uint64_t failed = 0;  // enomem, efault, einval, oops
};

// One replayed run, with what the plots need.
struct RunData {
  std::string name;  // file name or trace id
  trace::TraceHeader header;
  std::string report;  // replay::ReportText
  std::string outcome;
  std::vector<replay::Divergence> divergences;
  std::vector<FaultPoint> faults;          // in time order
  std::vector<uint64_t> alloc_failure_ns;  // times
  std::vector<FrameStat> frames;
  uint64_t end_ns = 0;
};

// Replays the trace (what-if settings optional) and gathers RunData from the
// events the replay produced. A damaged trace is an error; a divergence is
// not (it is shown).
absl::StatusOr<RunData> CollectRun(
    const std::function<absl::StatusOr<std::unique_ptr<trace::ByteSource>>()>& open,
    const std::string& name, const replay::WhatIf& what_if);

// The pieces, each a complete <svg> element with an id.
std::string LatencyHistogramSvg(const std::vector<const RunData*>& runs);
std::string LatencyCdfSvg(const std::vector<const RunData*>& runs);
std::string TimelineSvg(const RunData& run);
std::string FramesSvg(const RunData& run);

// Extra HTML placed after the title (e.g. the server's verdict and links).
struct PageExtras {
  std::string title;       // default: "faultlab report: NAME"
  std::string above_html;  // trusted HTML (built by the caller with Escape)
};

// Whole pages.
std::string ReportPage(const RunData& run, const PageExtras& extras = {});
std::string DiffPage(const RunData& a, const RunData& b);

// HTML-escapes text.
std::string Escape(const std::string& s);
// The page's shared head (style) and foot, for other pages of the server.
std::string PageHead(const std::string& title);
std::string PageFoot();

}  // namespace faultlab::html

#endif  // FAULTLAB_LIB_HTML_REPORT_HTML_H_
