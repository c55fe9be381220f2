// Golden test of the trace format: traces/golden-all-kinds.fltrace must
//  1. read back to exactly traces/golden-all-kinds.dump.txt, and
//  2. be byte-identical to what this build writes for the same synthetic input
//     (so an unintended change of the encoding fails here).
// To accept an intended change, rewrite both files on purpose:
//   bazel run //tests/golden:trace_golden_test -- --update
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/base/check.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/synthetic.h"
#include "engine/trace/text.h"
#include "engine/trace/writer.h"
#include "tests/golden/golden_files.h"

namespace faultlab {
namespace {

bool g_update = false;

constexpr char kTrace[] = "traces/golden-all-kinds.fltrace";
constexpr char kDump[] = "traces/golden-all-kinds.dump.txt";
constexpr int kEvents = 400;
constexpr uint64_t kSeed = 2026;

using golden::ReadFile;
using golden::SourcePath;
using golden::WriteFile;

std::string WriteGoldenTrace() {
  std::string bytes;
  trace::StringSink sink(&bytes);
  trace::WriterOptions opts;
  opts.max_events_per_chunk = 128;  // several chunks, so chunking is covered
  // No compression: the golden bytes pin our own encoding, not libzstd's output
  // (zstd chunks are covered by the round-trip and corruption tests).
  opts.codec = trace::CODEC_NONE;
  trace::TraceWriter writer(&sink, trace::SyntheticHeader(trace::Mix::kAllKinds, kSeed), opts);
  trace::SyntheticGenerator gen(trace::Mix::kAllKinds, kSeed);
  trace::Event e;
  for (int i = 0; i < kEvents; ++i) {
    gen.Next(&e);
    FAULTLAB_CHECK(writer.Append(e).ok(), "golden trace: Append");
  }
  FAULTLAB_CHECK(writer.Finish().ok(), "golden trace: Finish");
  return bytes;
}

std::string DumpOf(const std::string& bytes, const char* name) {
  trace::MemorySource src(bytes);
  trace::TraceReader reader(&src, name);
  std::string out;
  absl::Status s = trace::Dump(reader, 0, [&](absl::string_view line) {
    out.append(line.data(), line.size());
    out.push_back('\n');
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

TEST(TraceGoldenTest, EncodingAndDumpAreStable) {
  const std::string written = WriteGoldenTrace();
  if (g_update) {
    WriteFile(SourcePath(kTrace), written);
    WriteFile(SourcePath(kDump), DumpOf(written, kTrace));
    GTEST_SKIP() << "rewrote " << kTrace << " and " << kDump;
  }
  const std::string golden = ReadFile(kTrace);
  ASSERT_FALSE(golden.empty()) << kTrace << " missing; run with --update";
  EXPECT_EQ(DumpOf(golden, kTrace), ReadFile(kDump))
      << "the reader's view of the golden trace changed";
  EXPECT_TRUE(written == golden) << "this build encodes the golden input differently ("
                                 << written.size() << " vs " << golden.size()
                                 << " bytes); if intended, run with --update and bump the format "
                                 << "version if old readers cannot read the new bytes";
}

// Traces written before a field was added read the same as before: the
// versioning rule of docs/trace-format.md, checked on a real old file.
TEST(TraceGoldenTest, OlderTracesStayReadable) {
  constexpr char kOld[] = "traces/compat-v1-before-submitter-fields.fltrace";
  constexpr char kOldDump[] = "traces/compat-v1-before-submitter-fields.dump.txt";
  const std::string old = ReadFile(kOld);
  ASSERT_FALSE(old.empty()) << kOld;
  EXPECT_EQ(DumpOf(old, kOld), ReadFile(kOldDump));
}

}  // namespace
}  // namespace faultlab

int main(int argc, char** argv) {
  return faultlab::golden::RunGoldenTests(argc, argv, &faultlab::g_update);
}
