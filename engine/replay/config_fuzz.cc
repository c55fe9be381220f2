// Fuzz target: a trace header's configuration, and what-if arguments, as a
// server meets them — validated like command-line flags: a device config
// or an error naming the key, nothing else.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/replay/config.h"
#include "engine/replay/what_if.h"
#include "proto/trace.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace faultlab;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  trace::TraceHeader h;
  if (h.ParseFromString(bytes)) {
    absl::StatusOr<dev::DeviceConfig> c = replay::ConfigFromHeader(h);
    if (c.ok()) (void)replay::MakeHeader(*c, h.workload(), h.board(), h.trace_id(), 0, 1);
  }
  // The same bytes as "key=value" arguments, one per line.
  replay::WhatIf w;
  size_t at = 0;
  while (at <= bytes.size()) {
    const size_t nl = bytes.find('\n', at);
    (void)replay::ParseWhatIfArg(bytes.substr(at, nl - at), &w);
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return 0;
}
