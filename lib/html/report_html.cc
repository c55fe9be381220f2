#include "lib/html/report_html.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/trace/text.h"

namespace faultlab::html {
namespace {

constexpr int kW = 720, kH = 260, kLeft = 64, kRight = 16, kTop = 16, kBottom = 44;
constexpr int kPlotW = kW - kLeft - kRight, kPlotH = kH - kTop - kBottom;
const char* const kRunColor[] = {"#1f77b4", "#ff7f0e"};
constexpr char kFailColor[] = "#d62728";

bool Failed(int outcome) {
  return outcome == trace::FAULT_ENOMEM || outcome == trace::FAULT_EFAULT ||
         outcome == trace::FAULT_EINVAL || outcome == trace::FAULT_OOPS;
}

// The smallest "nice" number (1, 2, 5 x 10^k) at least v.
uint64_t NiceCeil(uint64_t v) {
  uint64_t p = 1;
  for (;;) {
    for (uint64_t m : {1, 2, 5}) {
      if (m * p >= v) return m * p;
    }
    p *= 10;
  }
}

std::string Svg(const std::string& id, const std::string& label, const std::string& body) {
  return absl::StrCat("<svg id=\"", id, "\" class=\"plot\" role=\"img\" aria-label=\"",
                      Escape(label), "\" xmlns=\"http://www.w3.org/2000/svg\" width=\"", kW,
                      "\" height=\"", kH, "\" viewBox=\"0 0 ", kW, " ", kH, "\">\n", body,
                      "</svg>\n");
}

std::string Text(int x, int y, const std::string& s, const char* anchor = "middle") {
  return absl::StrCat("<text x=\"", x, "\" y=\"", y, "\" text-anchor=\"", anchor, "\">", Escape(s),
                      "</text>\n");
}

// Axes, a y scale 0..ymax with 5 ticks labelled by `ylabel(v)`, the x title.
// Tick intervals that divide a nice maximum evenly: 5 for 1 and 5 x 10^k,
// 4 for 2 x 10^k (fewer when the maximum is 1 or 2).
int Intervals(uint64_t ymax) {
  if (ymax <= 2) return static_cast<int>(ymax);
  uint64_t lead = ymax;
  while (lead >= 10) lead /= 10;
  return lead == 2 ? 4 : 5;
}

std::string Frame(uint64_t ymax, const std::function<std::string(uint64_t)>& ylabel,
                  const std::string& xtitle, const std::string& ytitle) {
  std::string s;
  const int n = ymax == 100 ? 4 : std::max(1, Intervals(ymax));
  for (int i = 0; i <= n; ++i) {
    const int y = kTop + kPlotH - kPlotH * i / n;
    absl::StrAppend(&s, "<line class=\"grid\" x1=\"", kLeft, "\" y1=\"", y, "\" x2=\"",
                    kLeft + kPlotW, "\" y2=\"", y, "\"/>\n",
                    Text(kLeft - 6, y + 4, ylabel(ymax * i / n), "end"));
  }
  absl::StrAppend(&s, "<line class=\"axis\" x1=\"", kLeft, "\" y1=\"", kTop, "\" x2=\"", kLeft,
                  "\" y2=\"", kTop + kPlotH, "\"/>\n<line class=\"axis\" x1=\"", kLeft, "\" y1=\"",
                  kTop + kPlotH, "\" x2=\"", kLeft + kPlotW, "\" y2=\"", kTop + kPlotH, "\"/>\n",
                  Text(kLeft + kPlotW / 2, kH - 6, xtitle), "<text x=\"14\" y=\"",
                  kTop + kPlotH / 2, "\" text-anchor=\"middle\" transform=\"rotate(-90 14 ",
                  kTop + kPlotH / 2, ")\">", Escape(ytitle), "</text>\n");
  return s;
}

std::string Count(uint64_t v) { return absl::StrCat(v); }

// A duration given in microseconds, in the largest whole unit.
std::string UsLabel(uint64_t us) {
  if (us >= 1000000) return absl::StrCat(us / 1000000, " s");
  if (us >= 1000) return absl::StrCat(us / 1000, " ms");
  return absl::StrCat(us, " us");
}

std::string NsLabel(uint64_t ns) {
  return ns < 1000 ? absl::StrCat(ns, " ns") : UsLabel(ns / 1000);
}

// Piecewise-linear log2 in thousandths, in integers: 2^k + r -> 1000k + 1000r/2^k.
uint64_t Log2Milli(uint64_t v) {
  if (v == 0) return 0;
  int k = 63 - __builtin_clzll(v);
  const uint64_t base = 1ULL << k;
  return 1000ULL * k + (v - base) * 1000 / base;
}

std::string Legend(const std::vector<const RunData*>& runs) {
  if (runs.size() < 2) return "";
  std::string s;
  for (size_t i = 0; i < runs.size(); ++i) {
    const int x = kLeft + 8 + static_cast<int>(i) * 260;
    absl::StrAppend(&s, "<rect x=\"", x, "\" y=\"", kTop + 2,
                    "\" width=\"10\" height=\"10\" fill=\"", kRunColor[i], "\"/>",
                    Text(x + 14, kTop + 11, runs[i]->name.substr(0, 36), "start"));
  }
  return s;
}

}  // namespace

std::string Escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

absl::StatusOr<RunData> CollectRun(
    const std::function<absl::StatusOr<std::unique_ptr<trace::ByteSource>>()>& open,
    const std::string& name, const replay::WhatIf& what_if) {
  RunData r;
  r.name = name;
  {
    absl::StatusOr<std::unique_ptr<trace::ByteSource>> src = open();
    if (!src.ok()) return src.status();
    trace::TraceReader reader(src->get(), name);
    if (absl::Status s = reader.Open(); !s.ok()) return s;
    r.header = reader.header();
  }
  replay::ReplayOptions opts;
  opts.what_if = what_if;
  opts.keep_going = true;
  FrameStat* frame = nullptr;
  opts.on_output = [&](const trace::Event& e) {
    r.end_ns = std::max(r.end_ns, e.virtual_ns);
    if (e.kind == trace::EVENT_MMU_FAULT && e.fault.outcome > 0) {
      r.faults.push_back({e.virtual_ns, e.fault.latency_ns, e.fault.outcome});
      if (frame) {
        ++frame->faults;
        if (Failed(e.fault.outcome)) ++frame->failed;
      }
    } else if (e.kind == trace::EVENT_ALLOC_FAILURE) {
      r.alloc_failure_ns.push_back(e.virtual_ns);
    } else if (e.kind == trace::EVENT_MARKER && e.marker.type == trace::MARKER_FRAME_BEGIN) {
      r.frames.push_back({e.marker.id, 0, 0});
      frame = &r.frames.back();
    } else if (e.kind == trace::EVENT_MARKER && e.marker.type == trace::MARKER_FRAME_END) {
      frame = nullptr;
    }
  };
  replay::ReplayResult res = replay::Replay(open, name, opts);
  if (!res.status.ok()) return res.status;
  r.outcome = replay::ReplayOutcomeName(res.outcome);
  r.report = replay::ReportText(res);
  r.divergences = res.divergences;
  return r;
}

std::string LatencyHistogramSvg(const std::vector<const RunData*>& runs) {
  // Bucket k: latency <= 1 us * 2^k (k = 0..20), bucket 21: above.
  constexpr int kBuckets = 22;
  std::vector<std::vector<uint64_t>> counts(runs.size(), std::vector<uint64_t>(kBuckets));
  int lo = kBuckets, hi = -1;
  uint64_t top = 1;
  for (size_t i = 0; i < runs.size(); ++i) {
    for (const FaultPoint& f : runs[i]->faults) {
      int k = 0;
      while (k < kBuckets - 1 && f.latency_ns > (1000ULL << k)) ++k;
      ++counts[i][k];
      lo = std::min(lo, k);
      hi = std::max(hi, k);
    }
  }
  if (hi < 0) lo = 0, hi = 5;
  lo = std::max(0, std::min(lo - 1, hi - 7));
  hi = std::min(kBuckets - 1, std::max(hi + 1, lo + 7));
  for (auto& c : counts) {
    for (int k = lo; k <= hi; ++k) top = std::max(top, c[k]);
  }
  top = NiceCeil(top);
  std::string body =
      Frame(top, Count, "fault latency, upper bound of the bucket (1 us x 2^k)", "faults");
  const int n = hi - lo + 1;
  const int slot = kPlotW / n;
  const int bar = std::max(2, (slot - 4) / static_cast<int>(runs.size()));
  for (int k = lo; k <= hi; ++k) {
    const int x0 = kLeft + (k - lo) * slot + 2;
    for (size_t i = 0; i < runs.size(); ++i) {
      const uint64_t c = counts[i][k];
      const int h = static_cast<int>(c * kPlotH / top);
      absl::StrAppend(&body, "<rect class=\"bar\" x=\"", x0 + static_cast<int>(i) * bar, "\" y=\"",
                      kTop + kPlotH - h, "\" width=\"", bar - 1, "\" height=\"", h, "\" fill=\"",
                      kRunColor[i], "\"><title>", Escape(runs[i]->name), ": ", c,
                      " faults</title></rect>\n");
    }
    const std::string label = k == kBuckets - 1 ? ">1 s" : UsLabel(1ULL << k);
    if (n <= 12 || (k - lo) % 2 == 0)
      absl::StrAppend(&body, Text(x0 + slot / 2 - 2, kTop + kPlotH + 14, label));
  }
  absl::StrAppend(&body, Legend(runs));
  return Svg("latency-histogram", "fault latency histogram", body);
}

std::string LatencyCdfSvg(const std::vector<const RunData*>& runs) {
  uint64_t vmin = UINT64_MAX, vmax = 0;
  std::vector<std::vector<uint64_t>> sorted;
  for (const RunData* r : runs) {
    std::vector<uint64_t> v;
    for (const FaultPoint& f : r->faults) v.push_back(f.latency_ns);
    std::sort(v.begin(), v.end());
    if (!v.empty()) {
      vmin = std::min(vmin, v.front());
      vmax = std::max(vmax, v.back());
    }
    sorted.push_back(std::move(v));
  }
  if (vmax == 0) vmin = 1000, vmax = 2000;
  // x: log2 of the latency, whole powers of two around the data.
  const uint64_t x0 = Log2Milli(vmin) / 1000 * 1000, x1 = (Log2Milli(vmax) / 1000 + 1) * 1000;
  auto px = [&](uint64_t v) {
    return kLeft + static_cast<int>((Log2Milli(v) - x0) * kPlotW / (x1 - x0));
  };
  std::string body = Frame(
      100, [](uint64_t v) { return absl::StrCat(v, "%"); }, "fault latency (log scale)",
      "faults at or below");
  for (uint64_t p = x0; p <= x1; p += 1000) {
    const int x = kLeft + static_cast<int>((p - x0) * kPlotW / (x1 - x0));
    absl::StrAppend(&body, "<line class=\"grid\" x1=\"", x, "\" y1=\"", kTop, "\" x2=\"", x,
                    "\" y2=\"", kTop + kPlotH, "\"/>\n",
                    Text(x, kTop + kPlotH + 14, NsLabel(1ULL << (p / 1000))));
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::vector<uint64_t>& v = sorted[i];
    if (v.empty()) continue;
    std::string pts;
    for (int pm = 0; pm <= 1000; pm += 5) {
      const size_t idx = std::min(v.size() - 1, v.size() * static_cast<size_t>(pm) / 1000);
      absl::StrAppend(&pts, px(v[idx]), ",", kTop + kPlotH - kPlotH * pm / 1000, " ");
    }
    absl::StrAppend(&body, "<polyline class=\"cdf\" fill=\"none\" stroke-width=\"2\" stroke=\"",
                    kRunColor[i], "\" points=\"", pts, "\"/>\n");
  }
  absl::StrAppend(&body, Legend(runs));
  return Svg("latency-cdf", "fault latency CDF", body);
}

std::string TimelineSvg(const RunData& run) {
  constexpr int kBins = 100;
  std::vector<uint64_t> ok(kBins), bad(kBins), af(kBins);
  const uint64_t end = std::max<uint64_t>(run.end_ns, 1);
  auto bin = [&](uint64_t t) {
    return static_cast<int>(std::min<uint64_t>(kBins - 1, t * kBins / end));
  };
  for (const FaultPoint& f : run.faults) ++(Failed(f.outcome) ? bad : ok)[bin(f.t_ns)];
  for (uint64_t t : run.alloc_failure_ns) ++af[bin(t)];
  uint64_t top = 1;
  for (int b = 0; b < kBins; ++b) top = std::max(top, ok[b] + bad[b] + af[b]);
  top = NiceCeil(top);
  std::string body =
      Frame(top, Count, absl::StrCat("virtual time (0 to ", UsLabel(end / 1000), ")"),
            "per 1/100 of the run");
  for (int b = 0; b < kBins; ++b) {
    const int x = kLeft + b * kPlotW / kBins;
    const int w = kLeft + (b + 1) * kPlotW / kBins - x;
    int y = kTop + kPlotH;
    for (auto [n, color, what] :
         {std::tuple<uint64_t, const char*, const char*>{ok[b], kRunColor[0], "faults handled"},
          {bad[b], kFailColor, "faults failed"},
          {af[b], "#9467bd", "allocation failures"}}) {
      if (n == 0) continue;
      const int h = std::max(1, static_cast<int>(n * kPlotH / top));
      y -= h;
      absl::StrAppend(&body, "<rect x=\"", x, "\" y=\"", y, "\" width=\"", w - 1, "\" height=\"", h,
                      "\" fill=\"", color, "\"><title>", n, " ", what, "</title></rect>\n");
    }
  }
  absl::StrAppend(&body, "<rect x=\"", kLeft + 8, "\" y=\"", kTop + 2,
                  "\" width=\"10\" height=\"10\" fill=\"", kRunColor[0], "\"/>",
                  Text(kLeft + 22, kTop + 11, "faults", "start"), "<rect x=\"", kLeft + 90,
                  "\" y=\"", kTop + 2, "\" width=\"10\" height=\"10\" fill=\"", kFailColor, "\"/>",
                  Text(kLeft + 104, kTop + 11, "failed faults", "start"), "<rect x=\"", kLeft + 210,
                  "\" y=\"", kTop + 2, "\" width=\"10\" height=\"10\" fill=\"#9467bd\"/>",
                  Text(kLeft + 224, kTop + 11, "allocation failures", "start"));
  return Svg("timeline", "faults and allocation failures over virtual time", body);
}

std::string FramesSvg(const RunData& run) {
  uint64_t top = 1;
  for (const FrameStat& f : run.frames) top = std::max(top, f.faults);
  top = NiceCeil(top);
  std::string body = Frame(top, Count, "frame", "faults");
  const int n = std::max<int>(1, static_cast<int>(run.frames.size()));
  const int slot = std::max(1, kPlotW / n);
  for (int i = 0; i < static_cast<int>(run.frames.size()); ++i) {
    const FrameStat& f = run.frames[i];
    const int x = kLeft + i * slot;
    const int h = static_cast<int>(f.faults * kPlotH / top);
    const int hf = static_cast<int>(f.failed * kPlotH / top);
    absl::StrAppend(&body, "<rect class=\"bar\" x=\"", x + 1, "\" y=\"", kTop + kPlotH - h,
                    "\" width=\"", std::max(1, slot - 2), "\" height=\"", h, "\" fill=\"",
                    kRunColor[0], "\"><title>frame ", f.id, ": ", f.faults, " faults, ", f.failed,
                    " failed</title></rect>\n");
    if (hf > 0) {
      absl::StrAppend(&body, "<rect x=\"", x + 1, "\" y=\"", kTop + kPlotH - hf, "\" width=\"",
                      std::max(1, slot - 2), "\" height=\"", hf, "\" fill=\"", kFailColor,
                      "\"/>\n");
    }
    if (n <= 30 || i % (n / 15 + 1) == 0)
      absl::StrAppend(&body, Text(x + slot / 2, kTop + kPlotH + 14, absl::StrCat(f.id)));
  }
  return Svg("frames", "faults per frame", body);
}

std::string PageHead(const std::string& title) {
  return absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
      Escape(title),
      "</title>\n<style>\n"
      "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1500px;padding:0 "
      "16px;color:#222}\n"
      "h1{font-size:22px}h2{font-size:17px;margin-top:28px}\n"
      "table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid "
      "#ddd;text-align:left}\n"
      "td.n{text-align:right;font-variant-numeric:tabular-nums}.diff{background:#fff3cd}\n"
      "pre{background:#f6f6f6;padding:8px;overflow:auto}.bad{color:#b00}.good{color:#080}\n"
      ".plot text{font:11px "
      "system-ui,sans-serif;fill:#333}.grid{stroke:#e4e4e4}.axis{stroke:#555}\n"
      ".badge{display:inline-block;padding:1px 8px;border-radius:9px;background:#eee}\n"
      ".row{display:flex;flex-wrap:wrap;gap:24px}\n"
      "</style>\n</head>\n<body>\n<h1>",
      Escape(title), "</h1>\n");
}

std::string PageFoot() {
  return "<p><small>faultlab (docs/reports.md)</small></p>\n</body>\n</html>\n";
}

namespace {

std::vector<std::pair<std::string, std::string>> ConfigRows(const trace::TraceHeader& h) {
  std::vector<std::pair<std::string, std::string>> rows = {
      {"board", h.board()},
      {"profile (gpu)", h.profile()},
      {"workload", h.workload()},
      {"variant", h.variant()},
      {"policy", h.policy()},
      {"seed", absl::StrCat(h.seed())},
      {"model version", absl::StrCat(h.model_version())},
      {"engine", h.engine_version()}};
  for (const trace::ConfigEntry& e : h.config()) rows.push_back({e.key(), e.value()});
  return rows;
}

std::map<std::string, std::string> ReportMap(const std::string& report) {
  std::map<std::string, std::string> kv;
  for (absl::string_view line : absl::StrSplit(report, '\n')) {
    std::vector<std::string> p = absl::StrSplit(line, absl::MaxSplits(": ", 1));
    if (p.size() == 2) kv[p[0]] = p[1];
  }
  return kv;
}

std::string DivergenceHtml(const RunData& r) {
  if (r.divergences.empty()) return "";
  std::string s =
      "<h2 id=\"divergence\">Divergence</h2>\n<p class=\"bad\">The replay disagreed with the "
      "recording.</p>\n";
  for (const replay::Divergence& d : r.divergences) {
    std::string pre;
    for (const std::string& c : d.context) absl::StrAppend(&pre, "  before:   ", c, "\n");
    absl::StrAppend(&pre, "  expected: ", d.expected, "\n  got:      ", d.got, "\n");
    absl::StrAppend(&s, "<p>event ", d.index, "</p>\n<pre>", Escape(pre), "</pre>\n");
  }
  return s;
}

}  // namespace

std::string ReportPage(const RunData& run, const PageExtras& extras) {
  const std::string title = extras.title.empty() ? "faultlab report: " + run.name : extras.title;
  std::string s = PageHead(title);
  absl::StrAppend(&s, extras.above_html, "<p>replay outcome: <span class=\"badge ",
                  run.outcome == "identical" ? "good" : (run.outcome == "diverged" ? "bad" : ""),
                  "\" id=\"outcome\">", Escape(run.outcome), "</span> &middot; ", run.faults.size(),
                  " faults &middot; ", run.alloc_failure_ns.size(),
                  " allocation failures &middot; ", run.frames.size(), " frames</p>\n");
  absl::StrAppend(&s, "<h2>Configuration</h2>\n<table id=\"config\">\n");
  for (const auto& [k, v] : ConfigRows(run.header)) {
    absl::StrAppend(&s, "<tr><th>", Escape(k), "</th><td>", Escape(v), "</td></tr>\n");
  }
  absl::StrAppend(&s, "</table>\n", DivergenceHtml(run),
                  "<h2>Fault latency</h2>\n<div class=\"row\">\n", LatencyHistogramSvg({&run}),
                  LatencyCdfSvg({&run}), "</div>\n", "<h2>Over virtual time</h2>\n",
                  TimelineSvg(run));
  if (!run.frames.empty()) absl::StrAppend(&s, "<h2>Per frame</h2>\n", FramesSvg(run));
  absl::StrAppend(&s, "<h2>Replay report</h2>\n<pre id=\"report\">", Escape(run.report), "</pre>\n",
                  PageFoot());
  return s;
}

std::string DiffPage(const RunData& a, const RunData& b) {
  std::string s = PageHead("faultlab diff: " + a.name + " vs " + b.name);
  absl::StrAppend(&s, "<p><span style=\"color:", kRunColor[0],
                  "\">&#9632;</span> A: ", Escape(a.name), " (", Escape(a.outcome),
                  ") &nbsp; <span style=\"color:", kRunColor[1],
                  "\">&#9632;</span> B: ", Escape(b.name), " (", Escape(b.outcome),
                  ")</p>\n<h2>Configuration</h2>\n<table id=\"config\">\n",
                  "<tr><th></th><th>A</th><th>B</th></tr>\n");
  std::map<std::string, std::pair<std::string, std::string>> cfg;
  std::vector<std::string> order;
  for (const auto& [k, v] : ConfigRows(a.header)) {
    if (!cfg.count(k)) order.push_back(k);
    cfg[k].first = v;
  }
  for (const auto& [k, v] : ConfigRows(b.header)) {
    if (!cfg.count(k)) order.push_back(k);
    cfg[k].second = v;
  }
  for (const std::string& k : order) {
    const auto& [va, vb] = cfg[k];
    absl::StrAppend(&s, "<tr", va != vb ? " class=\"diff\"" : "", "><th>", Escape(k), "</th><td>",
                    Escape(va), "</td><td>", Escape(vb), "</td></tr>\n");
  }
  const std::vector<const RunData*> both = {&a, &b};
  absl::StrAppend(&s, "</table>\n<h2>Fault latency</h2>\n<div class=\"row\">\n",
                  LatencyHistogramSvg(both), LatencyCdfSvg(both),
                  "</div>\n<h2>Over virtual time</h2>\n<div class=\"row\">\n<div><p>A</p>",
                  TimelineSvg(a), "</div><div><p>B</p>", TimelineSvg(b), "</div>\n</div>\n");
  absl::StrAppend(&s,
                  "<h2>Reports</h2>\n<table "
                  "id=\"reports\">\n<tr><th></th><th>A</th><th>B</th><th>change</th></tr>\n");
  const auto ra = ReportMap(a.report), rb = ReportMap(b.report);
  for (absl::string_view line : absl::StrSplit(a.report, '\n')) {
    std::vector<std::string> p = absl::StrSplit(line, absl::MaxSplits(": ", 1));
    if (p.size() != 2) continue;
    const std::string& k = p[0];
    const std::string vb = rb.count(k) ? rb.at(k) : "";
    std::string change;
    int64_t x = 0, y = 0;
    if (ra.at(k) != vb && absl::SimpleAtoi(ra.at(k), &x) && absl::SimpleAtoi(vb, &y)) {
      change = x == 0 ? "new"
                      : absl::StrCat(y >= x ? "+" : "-", (y >= x ? y - x : x - y) * 1000 / x / 10,
                                     ".", (y >= x ? y - x : x - y) * 1000 / x % 10, "%");
    }
    absl::StrAppend(&s, "<tr", ra.at(k) != vb ? " class=\"diff\"" : "", "><th>", Escape(k),
                    "</th><td class=\"n\">", Escape(ra.at(k)), "</td><td class=\"n\">", Escape(vb),
                    "</td><td class=\"n\">", change, "</td></tr>\n");
  }
  absl::StrAppend(&s, "</table>\n", DivergenceHtml(a), DivergenceHtml(b), PageFoot());
  return s;
}

}  // namespace faultlab::html
