// The MMU fault path of the seed (panthor_mmu.c with series v3 4/8):
//   GPU miss -> AS_FAULTSTATUS/ADDRESS latched, RAWSTAT bit set, access stalled
//   -> IRQ (panthor_mmu_irq_handler -> panthor_mmu_handle_fault_locked): record
//      status/address, mask the AS, queue the VM's fault work
//   -> work (panthor_vm_fault_work -> panthor_vm_handle_fault_locked) under
//      vm->op_lock: find the VMA, refuse non-sparse memory (-EFAULT), align to
//      the granule, populate with the fault-path classes, map, flush
//   -> success: clear the fault and unmask (the access resumes); failure: log
//      the decoded fault, report to the scheduler, disable the AS (the access
//      dies, every group on the VM goes fatal).
#include <algorithm>

#include "absl/strings/str_format.h"
#include "engine/dev/fault_result.h"
#include "engine/dev/device.h"
#include "engine/uapi/errno.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT

namespace {

// Table pages on the fault path: "No op_ctx means alloc-on-fault, in that case
// we just allocate with non-blocking gfp flags" (the seed's alloc_pt()).
class FaultTables : public pgtable::TableAllocator {
 public:
  FaultTables(mem::MemoryModel* mem, mem::AllocClass cls) : mem_(mem), cls_(cls) {}
  bool Alloc(uint32_t* frame) override {
    if (!mem_->AllocPage(cls_, mem::Owner::kPageTable, frame)) {
      failed_ = true;
      return false;
    }
    ++allocated_;
    return true;
  }
  void Free(uint32_t frame) override { mem_->Free(frame, mem::Owner::kPageTable); }
  uint32_t allocated() const { return allocated_; }
  bool failed() const { return failed_; }

 private:
  mem::MemoryModel* mem_;
  mem::AllocClass cls_;
  uint32_t allocated_ = 0;
  bool failed_ = false;
};

// Degraded mappings: non-blocking first, then the policy's table reserve.
class ReserveTables : public pgtable::TableAllocator {
 public:
  ReserveTables(mem::MemoryModel* mem, std::vector<uint32_t>* reserve)
      : mem_(mem), reserve_(reserve) {}
  bool Alloc(uint32_t* frame) override {
    if (mem_->AllocPage(mem::AllocClass::kNoretry, mem::Owner::kPageTable, frame)) {
      ++allocated_;
      return true;
    }
    if (reserve_->empty()) return false;
    *frame = reserve_->back();
    reserve_->pop_back();
    mem_->Transfer(*frame, mem::Owner::kReserve, mem::Owner::kPageTable);
    ++allocated_;
    return true;
  }
  void Free(uint32_t frame) override { mem_->Free(frame, mem::Owner::kPageTable); }
  uint32_t allocated() const { return allocated_; }

 private:
  mem::MemoryModel* mem_;
  std::vector<uint32_t>* reserve_;
  uint32_t allocated_ = 0;
};

}  // namespace

mem::AllocClass Device::FaultPageClass() const {
  switch (config_.policy.kind) {
    case FaultPolicyKind::kNowait: return mem::AllocClass::kNowait;
    case FaultPolicyKind::kPool: return mem::AllocClass::kPool;
    default: return mem::AllocClass::kNoretry;
  }
}

void Device::RaiseFault(const std::shared_ptr<Job>& job, uint32_t status, uint64_t va) {
  if (job->finished) return;
  const int as = job->as;
  if (!mmu_.Enabled(as)) {
    KillGroup(job->group, 1u << job->queue);  // the AS died under it
    return;
  }
  stalled_[as].push_back(job);
  if (!mmu_.RaiseFault(as, status, va)) return;  // stalls behind the latched fault
  ++stats_.faults;
  fault_raised_ns_[as] = sched_.now_ns();
  if ((mmu_.rawstat() & mmu_.int_mask()) && !irq_pending_) {
    irq_pending_ = true;
    sched_.After(Cost(config_.profile.cost.irq_entry), [this] { MmuIrq(); });
  }
}

// Models panthor_mmu_irq_handler() + panthor_mmu_handle_fault_locked().
void Device::MmuIrq() {
  irq_pending_ = false;
  ++stats_.irqs;
  uint32_t status = mmu_.rawstat() & mmu_.int_mask() & 0xffff;
  while (status) {
    const int as = __builtin_ctz(status);
    const uint32_t bit = 1u << as;
    status &= ~bit;
    // Re-read RAWSTAT: 0 means the slot got recycled while we waited for the lock.
    if ((mmu_.rawstat() & 0xffff) == 0) {
      ++stats_.recycled_slot_irqs;
      continue;
    }
    const uint32_t fault_status = mmu_.fault_status(as);
    const uint64_t fault_addr = mmu_.fault_address(as);
    mmu_.set_faulty_mask(mmu_.faulty_mask() | bit);
    mmu_.set_int_mask(~mmu_.faulty_mask());
    std::shared_ptr<vm::Vm> vm = VmByKey(mmu_.VmInSlot(as));
    if (!vm) continue;
    VmFault& vf = vm_faults_[vm->key()];
    vf.status = fault_status;
    vf.addr = fault_addr;
    if (!vf.work_queued) {  // queue_work() returns false when already queued
      vf.work_queued = true;
      sched_.After(Cost(config_.profile.cost.workqueue_delay),
                   [this, vm, as] { FaultWork(vm, as); });
    }
  }
}

// Models panthor_vm_map_on_demand_locked(): `offset` and `size` in bytes
// within `vma`. The classes are the caller's (fault path or heap growth).
int Device::MapOnDemand(vm::Vm& vm, const vm::Vma& vma, uint64_t offset, uint64_t size,
                        mem::AllocClass page_cls, mem::AllocClass other_cls, bool dummy_ok,
                        FaultResult* r) {
  const CostModel& cm = config_.profile.cost;
  gem::Bo& bo = *vma.bo;
  const uint64_t gran_bytes = bo.sparse()->granularity_pages() * 4096;
  const uint64_t bo_offset = vma.bo_offset + offset;
  const uint64_t iova = vma.addr + offset;
  if (((size | bo_offset | iova) & (gran_bytes - 1)) || offset + size < offset ||
      offset + size > vma.range) {
    r->outcome = trace::FAULT_EINVAL;
    return -kEINVAL;
  }
  gem::PopulateStats st;
  int ret = bo.sparse()->PopulateRange(bo.pages(), bo_offset / 4096, size / 4096, page_cls,
                                       other_cls, &st);
  r->pages += st.pages;
  r->metadata += st.metadata;
  r->cost_ns += st.metadata * Cost(cm.metadata_alloc);
  for (uint32_t p = 0; p < st.pages; p += mem::kPagesPerHuge) {
    // A huge folio costs one 2 MiB allocation; the rest are 4 KiB each.
    const uint32_t n = std::min<uint32_t>(st.pages - p, mem::kPagesPerHuge);
    r->cost_ns += n == mem::kPagesPerHuge ? Cost(cm.huge_alloc) : n * Cost(cm.page_alloc);
  }
  FaultTables tables(&memory_, other_cls);
  const int prot = vm::Vm::FlagsToProt(vma.flags);
  if (ret == -kENOMEM && dummy_ok && vm.dummy_frame() != gem::kNoFrame) {
    // Keep the context alive: the reserve page backs every unmapped page of
    // the granule (its tables may come from the reserve); the fault is
    // reported as degraded.
    ReserveTables reserve(&memory_, &reserve_tables_);
    int mret = 0;
    for (uint64_t off = 0; off < size && mret == 0; off += 4096) {
      if (vm.page_table().IovaToPhys(iova + off)) continue;
      uint64_t mapped;
      mret = vm.page_table().MapPages(iova + off, vm::PhysOf(vm.dummy_frame()), 4096, 1, prot,
                                      &reserve, &mapped);
      r->cost_ns += Cost(cm.pte_update);
    }
    r->pt_pages += reserve.allocated();
    r->cost_ns += reserve.allocated() * Cost(cm.page_alloc) + Cost(cm.flush);
    r->outcome = mret == 0 ? trace::FAULT_DEGRADED : trace::FAULT_ENOMEM;
    return mret;
  }
  if (ret != 0) {
    r->outcome = ret == -kENOMEM ? trace::FAULT_ENOMEM : trace::FAULT_EINVAL;
    return ret;
  }
  // Map each sgt entry covering the range (drm_gem_shmem_sparse_get_sgt()).
  const uint64_t first_page = bo_offset / 4096;
  const uint64_t last_page = (bo_offset + size) / 4096;
  uint64_t va = iova;
  for (uint64_t p = first_page; p < last_page;) {
    uint64_t sgt_off, remaining;
    ret = bo.sparse()->GetSgt(p, &sgt_off, &remaining);
    if (ret) break;
    uint64_t n = remaining;
    if (config_.variant == Variant::kSeriesFixed) {
      n = std::min(n, last_page - p);  // the fix: only the requested range
    } else if (va + n * 4096 > vma.end()) {
      // series-v3 maps the whole rest of the sgt entry (spec 7.1), even past
      // the VMA; the twin reports it and stops at the VMA's end.
      ++stats_.map_beyond_vma;
      OnOops(vm.key(), "panthor_vm_map_on_demand_locked",
             absl::StrFormat("maps %d pages of an sgt entry past the end of VMA 0x%x", n,
                             vma.addr));
      n = (vma.end() - va) / 4096;
    }
    ret = vm.MapPages(va, prot, bo, p * 4096, n * 4096, &tables);
    r->cost_ns += n * Cost(cm.pte_update);
    if (ret) break;
    p += n;
    va += n * 4096;
  }
  r->pt_pages += tables.allocated();
  r->cost_ns += tables.allocated() * Cost(cm.page_alloc) + Cost(cm.flush);
  if (ret) r->outcome = ret == -kENOMEM ? trace::FAULT_ENOMEM : trace::FAULT_EINVAL;
  return ret;
}

// Models panthor_vm_handle_fault_locked().
Device::FaultResult Device::HandleFaultLocked(vm::Vm& vm, uint64_t addr, uint32_t) {
  FaultResult r;
  const vm::Vma* vma = vm.va_space().FindFirst(addr, 1);
  if (vma == nullptr || !vma->bo || !vma->bo->alloc_on_fault()) {
    r.ret = -kEFAULT;
    r.outcome = trace::FAULT_EFAULT;
    return r;
  }
  const uint64_t gran_pages = vma->bo->sparse()->granularity_pages();
  uint64_t iova, size;
  if (config_.variant == Variant::kSeriesV3) {
    // The seed masks with the granularity in pages and passes it as a byte
    // size: map_on_demand's alignment check can never pass (spec 1.4 (a)).
    iova = addr & ~(gran_pages - 1);
    size = gran_pages;
  } else {
    iova = addr & ~(gran_pages * 4096 - 1);
    size = gran_pages * 4096;
  }
  const mem::AllocClass page_cls = FaultPageClass();
  const mem::AllocClass other_cls =
      page_cls == mem::AllocClass::kPool ? mem::AllocClass::kNoretry : page_cls;
  r.ret = MapOnDemand(vm, *vma, iova - vma->addr, size, page_cls, other_cls,
                      config_.policy.kind == FaultPolicyKind::kDummyPage, &r);
  return r;
}

void Device::FaultWork(std::shared_ptr<vm::Vm> vm, int as) {
  VmFault& vf = vm_faults_[vm->key()];
  // mutex_lock(&vm->op_lock): a running fault work or bind holds it.
  if (vf.op_lock_until > sched_.now_ns()) {
    sched_.At(vf.op_lock_until, [this, vm, as] { FaultWork(vm, as); });
    return;
  }
  vf.work_busy = true;
  FaultResult r = HandleFaultLocked(*vm, vf.addr, vf.status);
  vf.op_lock_until = sched_.now_ns() + r.cost_ns;
  if (r.ret != 0) {
    // Logged now, reported to the scheduler from inside the work.
    kernel_log_.push_back(mmu::FormatFaultLog(as, vf.addr, vf.status));
    ReportMmuFault(vm->key(), sched_.now_ns());
  }
  auto done = [this, vm, as, r] {
    // Fault event and stats.
    ++(r.ret == 0 ? (r.outcome == trace::FAULT_DEGRADED ? stats_.faults_degraded
                                                        : stats_.faults_handled)
                  : stats_.faults_failed);
    trace::Event e;
    e.kind = trace::EVENT_MMU_FAULT;
    VmFault& f = vm_faults_[vm->key()];
    e.fault = {static_cast<uint32_t>(as), static_cast<uint32_t>(vm->key()), f.addr, f.status,
               r.outcome, r.pages, r.pt_pages, r.metadata,
               sched_.now_ns() - fault_raised_ns_[as], trace::LATENCY_MODELLED};
    Emit(e);
    FaultDone(vm, as, r.ret, r.outcome);
  };
  sched_.After(r.cost_ns, done);
}

// The end of panthor_vm_handle_fault_locked(), under slots_lock.
void Device::FaultDone(std::shared_ptr<vm::Vm> vm, int as, int ret, trace::FaultOutcome) {
  VmFault& vf = vm_faults_[vm->key()];
  vf.work_queued = false;
  vf.work_busy = false;
  const bool bound = mmu_.SlotOf(vm->key()) == as;
  std::vector<std::shared_ptr<Job>> stalled = std::move(stalled_[as]);
  stalled_[as].clear();
  if (!bound) {
    // The VM lost its slot meanwhile: nothing to clear or disable here.
    for (auto& job : stalled) stalled_[as].push_back(job);
    return;
  }
  if (ret != 0) {
    // "If we failed to handle the fault, disable the AS to kill jobs."
    mmu_.Disable(as);
    for (auto& job : stalled) {
      if (!job->finished) KillGroup(job->group, 1u << job->queue);  // CS fault
    }
    return;
  }
  vf.status = 0;
  vf.addr = 0;
  mmu_.Clear(1u << as);  // resumes the stalled accesses
  mmu_.set_faulty_mask(mmu_.faulty_mask() & ~(1u << as));
  mmu_.set_int_mask(~mmu_.faulty_mask());
  for (auto& job : stalled) {
    if (!job->finished) sched_.After(0, [this, job] { RunJob(job); });
  }
  if ((mmu_.rawstat() & mmu_.int_mask()) && !irq_pending_) {
    irq_pending_ = true;
    sched_.After(Cost(config_.profile.cost.irq_entry), [this] { MmuIrq(); });
  }
}

// panthor_sched_report_mmu_fault(): an immediate tick. The tick marks every
// group on a VM with unhandled faults fatal — all queues — where
// panthor_vm_has_unhandled_faults() = fault.status && !work_busy(&fault.work).
// series-v3 reports from inside the still-running work: a seed may let the
// tick run first and miss the fault (spec 7.1); series-fixed reports after.
void Device::ReportMmuFault(uint64_t vm_key, uint64_t at_ns) {
  const uint64_t tick = Cost(config_.profile.cost.sched_tick);
  uint64_t when = at_ns + tick;
  if (config_.variant == Variant::kSeriesFixed ||
      !sched_.prng().Chance(config_.v3_tick_race_permille, 1000)) {
    when = std::max(when, vm_faults_[vm_key].op_lock_until + tick);
  } else {
    when = std::min(when, vm_faults_[vm_key].op_lock_until);
  }
  sched_.At(when, [this, vm_key] {
    VmFault& vf = vm_faults_[vm_key];
    if (!vf.status || vf.work_busy) {
      ++stats_.v3_tick_missed_fault;  // the group dies by the CS fault alone
      return;
    }
    for (const auto& f : files_) {
      for (auto& [h, g] : f->groups_) {
        if (g->vm->key() == vm_key && g->fatal_queues != (1u << g->queues.size()) - 1) {
          KillGroup(g, (1u << g->queues.size()) - 1);
        }
      }
    }
  });
}

std::shared_ptr<vm::Vm> Device::VmByKey(uint64_t key) const {
  auto it = vms_by_key_.find(key);
  return it == vms_by_key_.end() ? nullptr : it->second.lock();
}

}  // namespace faultlab::dev
