// The GPU fault stream from kprobes (docs/board.md "The fault stream"): the
// probe definitions the agent writes to tracefs's kprobe_events, and the
// parser of what trace_pipe then shows. With the alloc-on-fault series,
// panthor handles a GPU fault in panthor_vm_fault_work(work), work =
// &vm->fault.work; the probes fetch the VM's fault status, address and AS
// through that argument (offsets from BTF: btf.h), bracket the work, and
// mark what made a fault unhandled. Malformed lines are counted, never fatal.
#ifndef FAULTLAB_LIB_COLLECT_KPROBES_H_
#define FAULTLAB_LIB_COLLECT_KPROBES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "lib/collect/btf.h"

namespace faultlab::collect {

// The kprobe_events group every probe of ours is in.
inline constexpr char kProbeGroup[] = "faultlab";

struct ProbeDef {
  std::string event;  // faultlab/NAME
  std::string line;   // what kprobe_events gets
  bool required;      // false: the kernel may have inlined the symbol
};

// The probes, in the order they are added. Without `offsets` (no BTF) the
// fault work is bracketed without its fields: durations only.
//   fault_work       p panthor_vm_fault_work [work status addr as]
//   fault_work_ret   r panthor_vm_fault_work
//   mmu_irq          p panthor_mmu_irq_handler status ($arg2: the IRQ's AS bits)
//   report_fault     p panthor_sched_report_mmu_fault (unhandled faults only)
//   map_ret          r panthor_vm_map_on_demand_locked ret (static: may be inlined)
// Fetch args use $argN (kernel 4.20+, on x86_64 and arm64 alike) and
// +|-OFFS(FETCHARG) (Documentation/trace/kprobetrace.rst).
std::vector<ProbeDef> FaultProbes(const FaultOffsets* offsets);

// One fault work as the kprobes saw it (trace clock ns: the agent sets
// its tracefs instance's trace_clock to mono, CLOCK_MONOTONIC).
struct KprobeFault {
  uint64_t start_ns = 0, end_ns = 0;  // the work's entry and return
  uint64_t irq_ns = 0;                // the MMU IRQ that raised it (0: not seen)
  bool has_fields = false;            // status/addr/as fetched: the fault stream
  uint64_t work = 0;                  // &vm->fault.work: the same for a VM's faults
  int32_t as = -1;
  uint64_t va = 0;
  uint32_t status = 0;
  bool unhandled = false;  // panthor_sched_report_mmu_fault() ran inside it
  bool has_ret = false;    // panthor_vm_map_on_demand_locked() returned `ret` inside it
  int32_t ret = 0;

  uint64_t work_ns() const { return end_ns - start_ns; }
  // IRQ to the end of the work when the IRQ was seen, else the work alone.
  uint64_t latency_ns() const { return irq_ns ? end_ns - irq_ns : work_ns(); }
};

struct KprobeTrace {
  std::vector<KprobeFault> faults;  // in the order their works returned
  uint64_t irqs = 0;
  uint64_t lines = 0;
  uint64_t malformed = 0;  // lines of ours that did not parse
  uint64_t unmatched = 0;  // a return without its entry, or an entry never returned
};
KprobeTrace ParseKprobeTrace(absl::string_view text);

// The fault-work lines a kernel with these probes would print (the loopback
// kernel writes its faults with it; the parser reads them back).
std::string FormatFaultWork(const KprobeFault& f, uint32_t pid);

}  // namespace faultlab::collect

#endif  // FAULTLAB_LIB_COLLECT_KPROBES_H_
