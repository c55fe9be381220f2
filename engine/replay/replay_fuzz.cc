// Fuzz target: any bytes as a trace to replay (what the server's replay
// workers are handed by an untrusted agent). A replay ends — identical,
// diverged, what-if or an error naming where — in bounded time and memory;
// it never crashes. Inputs are small; the job timeout bounds each job.
#include <cstddef>
#include <cstdint>

#include "engine/replay/replayer.h"
#include "engine/trace/io.h"
#include "engine/trace/test_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace faultlab;
  // Checksums made right: a mutation reaches the replay (the reader's
  // refusals are reader_fuzz's).
  const std::string bytes =
      trace::testing::Reframe(absl::string_view(reinterpret_cast<const char*>(data), size));
  replay::ReplayOptions opts;
  opts.keep_going = size % 2 == 1;  // both ways of meeting a divergence
  replay::ReplayResult r = replay::Replay(
      [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
        return std::make_unique<trace::MemorySource>(bytes);
      },
      "fuzz", opts);
  if (r.status.ok()) (void)replay::ReportText(r);
  return 0;
}
