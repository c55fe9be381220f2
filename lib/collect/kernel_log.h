// Kernel-side facts a userspace recorder cannot see (docs/board.md):
// panthor's unhandled-fault reports from the kernel log (the fault stream
// from kprobes is kprobes.h). A parser only: it takes the text as `dmesg`
// or /dev/kmsg give it, and counts what it cannot read (never fatal).
#ifndef FAULTLAB_LIB_COLLECT_KERNEL_LOG_H_
#define FAULTLAB_LIB_COLLECT_KERNEL_LOG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace faultlab::collect {

// "Unhandled Page fault in AS%d at VA 0x%016llX" and the lines after it
// (panthor_mmu.c, the twin's mmu::FormatFaultLog prints the same).
struct KernelFault {
  uint64_t time_ns = 0;  // the log's timestamp
  int as = -1;
  uint64_t va = 0;
  uint32_t status = 0;  // raw fault status (0 when the line was missing)
  bool has_status = false;
  uint32_t exception = 0;  // [7:0] of the status
  std::string device;      // "fb000000.gpu" when the prefix names it
};

struct KernelLog {
  std::vector<KernelFault> faults;
  uint64_t lines = 0;
  uint64_t malformed = 0;  // panthor fault lines that did not parse
};

// `dmesg` text ("[  12.345678] msg", continuation lines without prefix) or
// /dev/kmsg records ("PRI,SEQ,USEC,FLAGS;msg" with "\x0a" inside).
KernelLog ParseKernelLog(absl::string_view text);

// The kernel's "seconds.fraction" timestamps (dmesg, trace_pipe) in ns.
bool SecondsToNs(absl::string_view s, uint64_t* ns);

}  // namespace faultlab::collect

#endif  // FAULTLAB_LIB_COLLECT_KERNEL_LOG_H_
