// FaultPath: the GPU MMU fault handling of panthor_mmu.c with the
// alloc-on-fault series (v3 4/8):
//
//   GPU miss -> AS_FAULTSTATUS/ADDRESS latched, RAWSTAT bit set, the access
//               stalls (Miss)
//   -> IRQ (panthor_mmu_irq_handler -> panthor_mmu_handle_fault_locked):
//      record status/address in the VM, mask the AS, queue the VM's fault work
//   -> work (panthor_vm_fault_work -> panthor_vm_handle_fault_locked) under
//      vm->op_lock: find the VMA, refuse non-sparse memory (-EFAULT), align to
//      the granule, populate with the policy's classes, map, flush
//   -> success: clear the fault and unmask (the access resumes); failure: log
//      the decoded fault, report it to the scheduler, disable the AS (the
//      access dies).
//
// The GPU side — which jobs stall on an AS, what a resume or a disable does
// to them, and the scheduler tick that marks groups fatal — belongs to
// gpu::Executor, which the fault path tells through Listener.
//
//   FaultPath fp({&sched, &memory, &mmu, &vms, &cost, variant, policy, &out, &oopses});
//   fp.set_listener(&executor);
//   fp.Miss(as, status, va);   // then virtual time runs the IRQ and the work
#ifndef FAULTLAB_ENGINE_FAULT_FAULT_PATH_H_
#define FAULTLAB_ENGINE_FAULT_FAULT_PATH_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "engine/base/variant.h"
#include "engine/events/emitter.h"
#include "engine/gem/sparse.h"
#include "engine/mem/memory.h"
#include "engine/mmu/mmu.h"
#include "engine/policy/policy.h"
#include "engine/profiles/profile.h"
#include "engine/sim/scheduler.h"
#include "engine/vm/vm.h"
#include "engine/vm/vm_registry.h"
#include "proto/trace.pb.h"

namespace faultlab::fault {

// What one fault (or one pre-fault) cost and how it ended.
struct FaultResult {
  int ret = 0;
  trace::FaultOutcome outcome = trace::FAULT_HANDLED;
  uint32_t pages = 0;
  uint32_t pt_pages = 0;
  uint32_t metadata = 0;
  uint32_t ptes = 0;     // PTEs written (each costs a pte_update)
  uint64_t cost_ns = 0;  // how long the work holds vm->op_lock
};

// The allocation classes of one population: BO pages, table pages, metadata.
struct Classes {
  mem::AllocClass page;
  mem::AllocClass table;
  mem::AllocClass metadata;
};

// The GPU side of a fault's outcome (implemented by gpu::Executor).
class Listener {
 public:
  virtual ~Listener() = default;
  // MMU_INT_CLEAR on `as`: the accesses stalled there resume.
  virtual void OnFaultCleared(int as) = 0;
  // The AS was disabled: the accesses stalled there die.
  virtual void OnAsDisabled(int as) = 0;
  // panthor_sched_report_mmu_fault(), called from the fault work at `at_ns`.
  virtual void ReportMmuFault(uint64_t vm_key, uint64_t at_ns) = 0;
};

struct FaultStats {
  uint64_t faults = 0;  // latched (a miss behind a latched fault only stalls)
  uint64_t handled = 0;
  uint64_t degraded = 0;
  uint64_t failed = 0;
  uint64_t irqs = 0;
  uint64_t recycled_slot_irqs = 0;  // RAWSTAT read 0: the slot was recycled meanwhile
  uint64_t map_beyond_vma = 0;      // series-v3 map_on_demand overruns, clamped
};

class FaultPath {
 public:
  struct Deps {
    sim::Scheduler* sched;
    mem::MemoryModel* memory;
    mmu::Mmu* mmu;
    const vm::VmRegistry* vms;
    const profiles::CostModel* cost;
    Variant variant;
    policy::FaultPolicy* policy;
    events::Emitter* out;
    vm::OopsSink* oopses;
  };
  explicit FaultPath(const Deps& deps) : d_(deps) {}
  FaultPath(const FaultPath&) = delete;
  FaultPath& operator=(const FaultPath&) = delete;

  void set_listener(Listener* listener) { listener_ = listener; }

  // The GPU missed at `va` on `as` (enabled): latches the fault and raises
  // the IRQ. False when a fault is already latched there: the access stalls
  // behind it and is retried when that one clears.
  bool Miss(int as, uint32_t status, uint64_t va);

  // panthor_vm_active() on a re-activation: "If the VM is re-activated, we
  // clear the fault."
  void OnVmActivated(uint64_t vm_key);
  // panthor_vm_has_unhandled_faults(): a fault recorded and no work running.
  bool HasUnhandledFaults(uint64_t vm_key) const;
  // When the VM's fault work lets go of vm->op_lock (0: never held).
  uint64_t OpLockFreeAt(uint64_t vm_key) const;

  // Models panthor_vm_map_on_demand_locked(): populates and maps `size`
  // bytes at `offset` within `vma`. With `may_degrade`, an -ENOMEM goes to
  // the policy, which may keep the context alive. 0 or -errno; `*r` gains
  // the cost and the counts.
  int MapOnDemand(vm::Vm& vm, const vm::Vma& vma, uint64_t offset, uint64_t size,
                  const Classes& classes, bool may_degrade, FaultResult* r);
  // Models panthor_vm_pre_fault_range() (series 6/8: byte sizes in both variants).
  int PreFaultRange(vm::Vm& vm, uint64_t iova, uint64_t size, const Classes& classes,
                    gem::PopulateStats* stats);
  // The classes the policy gives the fault path (and heap growth).
  Classes FaultClasses() const;

  const FaultStats& stats() const { return stats_; }

  // When each fault's work ran, as a board's kprobes would see it (the
  // loopback kernel writes a board's fault stream from it: docs/board.md).
  struct Timing {
    int as;
    uint64_t vm_key;
    uint64_t addr;
    uint32_t status;
    int ret;  // panthor_vm_map_on_demand_locked()'s: 0 handled (or degraded)
    uint64_t irq_ns, start_ns, end_ns;  // the IRQ handler, the work's start and end
    // What the work did, each a count of a cost's draws (calibration's
    // covariates, lib/calibrate).
    uint32_t pages, pt_pages, metadata, ptes;
  };
  void set_timing_observer(std::function<void(const Timing&)> fn) { timing_ = std::move(fn); }

 private:
  // Models panthor_mmu_irq_handler() + panthor_mmu_handle_fault_locked().
  void Irq();
  void RaiseIrqIfPending();
  // Models panthor_vm_fault_work().
  void Work(std::shared_ptr<vm::Vm> vm, int as);
  // Models panthor_vm_handle_fault_locked() up to the map.
  FaultResult HandleLocked(vm::Vm& vm, uint64_t addr);
  // The end of panthor_vm_handle_fault_locked(), under slots_lock.
  void Done(const std::shared_ptr<vm::Vm>& vm, int as, const FaultResult& r);
  int MapSgtEntries(vm::Vm& vm, const vm::Vma& vma, uint64_t bo_offset, uint64_t size,
                    pgtable::TableAllocator* tables, FaultResult* r);
  uint64_t Cost(const profiles::CostRange& c) { return c.Draw(d_.sched->prng()); }

  const Deps d_;
  Listener* listener_ = nullptr;

  // struct panthor_vm's fault state, per VM key (created at the VM's first
  // IRQ, never removed: a destroyed VM's entry is inert).
  struct VmFault {
    // fault.work is queued (queue_work() returns false while it is); set by
    // the IRQ, cleared when the work ends.
    bool work_queued = false;
    // The work is running (work_busy()); only between its start and its end.
    bool work_busy = false;
    // fault.status / fault.addr: the last fault the IRQ recorded; 0 once
    // handled or when the VM is re-activated (no fault pending).
    uint32_t status = 0;
    uint64_t addr = 0;
    // vm->op_lock is held by a fault work until then (virtual ns; 0: never).
    uint64_t op_lock_until = 0;
  };
  std::map<uint64_t, VmFault> vm_faults_;
  // When each AS's latched fault was raised (virtual ns): a fault's latency
  // runs from there. Written at a latch, read when its work ends.
  std::map<int, uint64_t> raised_ns_;
  // When the IRQ handler last latched each AS's fault (for Timing).
  std::map<int, uint64_t> irq_ns_;
  std::function<void(const Timing&)> timing_;
  // An IRQ is scheduled and has not run yet (the line stays asserted).
  bool irq_pending_ = false;
  FaultStats stats_;
};

}  // namespace faultlab::fault

#endif  // FAULTLAB_ENGINE_FAULT_FAULT_PATH_H_
