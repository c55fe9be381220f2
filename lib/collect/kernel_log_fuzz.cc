// Fuzz target: any text as a board's kernel log and as kprobe trace_pipe
// output. Both parsers count what they cannot read; they never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "lib/collect/kernel_log.h"
#include "lib/collect/kprobes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)faultlab::collect::ParseKernelLog(text);
  (void)faultlab::collect::ParseKprobeTrace(text);
  return 0;
}
