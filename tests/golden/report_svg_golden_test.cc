// Golden test of the HTML report's SVG (docs/reports.md): the four plots of
// traces/game.fltrace, and the diff of compute against pressure, must be
// byte-identical to traces/*.svg (integer coordinates: the same on every
// machine). `bazel run //tests/golden:report_svg_golden_test -- --update`
// rewrites them on purpose.
#include <gtest/gtest.h>

#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/writer.h"
#include "lib/html/report_html.h"
#include "tests/golden/golden_files.h"

namespace faultlab {
namespace {

bool g_update = false;

html::RunData Collect(const std::string& path) {
  auto open = [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
    auto f = trace::FileSource::Open(path);
    if (!f.ok()) return f.status();
    return std::unique_ptr<trace::ByteSource>(std::move(*f));
  };
  absl::StatusOr<html::RunData> r = html::CollectRun(open, path.substr(path.rfind('/') + 1), {});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : html::RunData{};
}

void Check(const std::string& golden, const std::string& got) {
  if (g_update) {
    golden::WriteFile(golden::SourcePath(golden), got);
    return;
  }
  const std::string want = golden::ReadFile(golden);
  ASSERT_FALSE(want.empty()) << golden << " missing; run with --update";
  EXPECT_EQ(got, want) << golden << " differs (if on purpose: --update)";
}

TEST(ReportSvgGolden, GamePlots) {
  const html::RunData r = Collect("traces/game.fltrace");
  EXPECT_EQ(r.outcome, "identical");
  EXPECT_EQ(r.frames.size(), 30u);
  Check("traces/game.report.svg", html::LatencyHistogramSvg({&r}) + html::LatencyCdfSvg({&r}) +
                                      html::TimelineSvg(r) + html::FramesSvg(r));
}

TEST(ReportSvgGolden, ComputeAgainstPressure) {
  const html::RunData a = Collect("traces/compute.fltrace");
  const html::RunData b = Collect("traces/pressure.fltrace");
  EXPECT_FALSE(b.alloc_failure_ns.empty());
  Check("traces/compute-vs-pressure.svg",
        html::LatencyHistogramSvg({&a, &b}) + html::LatencyCdfSvg({&a, &b}));
}

TEST(ReportSvgGolden, ADivergentReplayShowsItsDivergence) {
  // A copy of game.fltrace with one fault's latency changed by 1 ns.
  auto src = trace::FileSource::Open("traces/game.fltrace");
  ASSERT_TRUE(src.ok());
  trace::TraceReader reader(src->get(), "game");
  ASSERT_TRUE(reader.Open().ok());
  std::string bytes;
  trace::StringSink sink(&bytes);
  trace::TraceWriter writer(&sink, reader.header());
  trace::Event e;
  bool done = false;
  while (reader.Next(&e)) {
    if (!done && e.kind == trace::EVENT_MMU_FAULT) {
      e.fault.latency_ns += 1;
      done = true;
    }
    ASSERT_TRUE(writer.Append(e).ok());
  }
  ASSERT_TRUE(writer.Finish().ok());
  absl::StatusOr<html::RunData> r = html::CollectRun(
      [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
        return std::make_unique<trace::MemorySource>(bytes);
      },
      "tampered", {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, "diverged");
  const std::string page = html::ReportPage(*r);
  EXPECT_NE(page.find("id=\"divergence\""), std::string::npos);
  EXPECT_NE(page.find("expected: "), std::string::npos);
}

TEST(ReportSvgGolden, PagesAreSelfContainedAndEscaped) {
  html::RunData r = Collect("traces/game.fltrace");
  r.name = "<script>alert(1)</script>";
  const std::string page = html::ReportPage(r);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;"), std::string::npos);
  for (const char* remote : {"http://", "https://", "src=", "@import", "url("}) {
    // The only URL allowed is the SVG namespace name, which is not fetched.
    std::string rest = page;
    size_t at;
    while ((at = rest.find(remote)) != std::string::npos) {
      EXPECT_EQ(rest.compare(at, 26, "http://www.w3.org/2000/svg"), 0)
          << "a fetch: " << rest.substr(at, 60);
      rest = rest.substr(at + 1);
    }
  }
  for (const char* id :
       {"latency-histogram", "latency-cdf", "timeline", "frames", "config", "report"}) {
    EXPECT_NE(page.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  }
}

}  // namespace
}  // namespace faultlab

int main(int argc, char** argv) {
  return faultlab::golden::RunGoldenTests(argc, argv, &faultlab::g_update);
}
