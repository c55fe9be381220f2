// Kernel-side facts a userspace recorder cannot see (issue 10; docs/board.md):
// panthor's unhandled-fault reports from the kernel log, and handled-fault
// latencies from kprobes on the fault work. Parsers only: they take the text
// as `dmesg`, /dev/kmsg or tracefs's trace_pipe give it, and count what they
// cannot read (never fatal).
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

// trace_pipe lines of the kprobes the agent sets (docs/board.md):
//   p:faultlab/fault_work panthor_vm_fault_work
//   r:faultlab/fault_work_ret panthor_vm_fault_work
//   p:faultlab/mmu_irq panthor_mmu_irq_handler
// The work item runs start to end on one task: entry and return of the same
// pid bracket a handled fault.
struct KprobeTrace {
  std::vector<uint64_t> fault_work_ns;  // each bracket's duration
  uint64_t irqs = 0;
  uint64_t lines = 0;
  uint64_t malformed = 0;  // lines of ours that did not parse
  uint64_t unmatched = 0;  // a return without its entry, or an entry never returned
};
KprobeTrace ParseKprobeTrace(absl::string_view text);

}  // namespace faultlab::collect

#endif  // FAULTLAB_LIB_COLLECT_KERNEL_LOG_H_
