// Test helper: copies a trace, adding 1 ns to the latency of its first MMU
// fault, so that `faultlab replay` must report a divergence (exit 1).
//   tamper_trace IN OUT
#include <iostream>

#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/writer.h"

int main(int argc, char** argv) {
  using namespace faultlab::trace;
  if (argc != 3) {
    std::cerr << "usage: tamper_trace IN OUT\n";
    return 2;
  }
  auto src = FileSource::Open(argv[1]);
  auto sink = FileSink::Open(argv[2]);
  if (!src.ok() || !sink.ok()) {
    std::cerr << (src.ok() ? sink.status() : src.status()) << "\n";
    return 4;
  }
  TraceReader reader(src->get(), argv[1]);
  if (absl::Status s = reader.Open(); !s.ok()) {
    std::cerr << s << "\n";
    return 3;
  }
  TraceWriter writer(sink->get(), reader.header());
  Event e;
  bool tampered = false;
  while (reader.Next(&e)) {
    if (!tampered && e.kind == EVENT_MMU_FAULT) {
      e.fault.latency_ns += 1;
      tampered = true;
      std::cout << "tampered event " << reader.event_index() << "\n";
    }
    if (absl::Status s = writer.Append(e); !s.ok()) {
      std::cerr << s << "\n";
      return 4;
    }
  }
  if (!reader.status().ok() || !writer.Finish().ok() || !tampered) {
    std::cerr << "tamper_trace: " << (tampered ? "read/write failed" : "no MMU fault to tamper")
              << "\n";
    return 1;
  }
  return 0;
}
