// Fuzz target: any bytes as a trace file, read strictly and with
// skip_damaged, as given and with its frames' checksums made right (so that
// mutations reach envelopes and columns). The reader must end with an error naming an offset or
// read to the end — no crash, no read out of bounds, memory bounded by a frame.
#include <cstddef>
#include <cstdint>

#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/test_util.h"
#include "engine/trace/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace faultlab::trace;
  const std::string raw(reinterpret_cast<const char*>(data), size);
  const std::string reframed = testing::Reframe(raw);
  for (int pass = 0; pass < 4; ++pass) {
    const bool skip = pass & 1;
    MemorySource src(pass < 2 ? raw : reframed);  // as given, then checksums made right
    ReaderOptions opts;
    opts.skip_damaged = skip;
    opts.max_frame_bytes = 1 << 20;  // the fuzzer's inputs are small; so are its frames
    TraceReader reader(&src, "fuzz", opts);
    if (!reader.Open().ok()) continue;
    Event e;
    TraceSummary summary;
    while (reader.Next(&e)) summary.Add(e);
  }
  return 0;
}
