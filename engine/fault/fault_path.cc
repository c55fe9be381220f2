#include "engine/fault/fault_path.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "engine/uapi/errno.h"

namespace faultlab::fault {

namespace {

// Table pages on the fault path: "No op_ctx means alloc-on-fault, in that case
// we just allocate with non-blocking gfp flags" (the seed's alloc_pt()).
class FaultTables : public pgtable::TableAllocator {
 public:
  FaultTables(mem::MemoryModel* mem, mem::AllocClass cls) : mem_(mem), cls_(cls) {}
  bool Alloc(uint32_t* frame) override {
    if (!mem_->AllocPage(cls_, mem::Owner::kPageTable, frame)) return false;
    ++allocated_;
    return true;
  }
  void Free(uint32_t frame) override { mem_->Free(frame, mem::Owner::kPageTable); }
  uint32_t allocated() const { return allocated_; }

 private:
  mem::MemoryModel* mem_;
  mem::AllocClass cls_;
  uint32_t allocated_ = 0;
};

trace::FaultOutcome OutcomeOf(int ret) {
  return ret == -uapi::kENOMEM ? trace::FAULT_ENOMEM : trace::FAULT_EINVAL;
}

}  // namespace

Classes FaultPath::FaultClasses() const {
  return {d_.policy->PageClass(), d_.policy->TableClass(), d_.policy->MetadataClass()};
}

bool FaultPath::Miss(int as, uint32_t status, uint64_t va) {
  if (!d_.mmu->RaiseFault(as, status, va)) return false;
  ++stats_.faults;
  raised_ns_[as] = d_.sched->now_ns();
  RaiseIrqIfPending();
  return true;
}

void FaultPath::RaiseIrqIfPending() {
  if ((d_.mmu->rawstat() & d_.mmu->int_mask()) && !irq_pending_) {
    irq_pending_ = true;
    d_.sched->After(Cost(d_.cost->irq_entry), [this] { Irq(); });
  }
}

void FaultPath::OnVmActivated(uint64_t vm_key) {
  VmFault& vf = vm_faults_[vm_key];
  vf.status = 0;
  vf.addr = 0;
}

bool FaultPath::HasUnhandledFaults(uint64_t vm_key) const {
  auto it = vm_faults_.find(vm_key);
  return it != vm_faults_.end() && it->second.status && !it->second.work_busy;
}

uint64_t FaultPath::OpLockFreeAt(uint64_t vm_key) const {
  auto it = vm_faults_.find(vm_key);
  return it == vm_faults_.end() ? 0 : it->second.op_lock_until;
}

void FaultPath::Irq() {
  irq_pending_ = false;
  ++stats_.irqs;
  mmu::Mmu& mmu = *d_.mmu;
  uint32_t status = mmu.rawstat() & mmu.int_mask() & 0xffff;
  while (status) {
    const int as = __builtin_ctz(status);
    const uint32_t bit = 1u << as;
    status &= ~bit;
    // Re-read RAWSTAT: 0 means the slot got recycled while we waited for the lock.
    if ((mmu.rawstat() & 0xffff) == 0) {
      ++stats_.recycled_slot_irqs;
      continue;
    }
    const uint32_t fault_status = mmu.fault_status(as);
    const uint64_t fault_addr = mmu.fault_address(as);
    mmu.set_faulty_mask(mmu.faulty_mask() | bit);
    mmu.set_int_mask(~mmu.faulty_mask());
    std::shared_ptr<vm::Vm> vm = d_.vms->Find(mmu.VmInSlot(as));
    if (!vm) continue;
    VmFault& vf = vm_faults_[vm->key()];
    vf.status = fault_status;
    vf.addr = fault_addr;
    if (timing_) irq_ns_[as] = d_.sched->now_ns();  // only a timing observer reads it
    if (!vf.work_queued) {  // queue_work() returns false when already queued
      vf.work_queued = true;
      d_.sched->After(Cost(d_.cost->workqueue_delay), [this, vm, as] { Work(vm, as); });
    }
  }
}

int FaultPath::MapOnDemand(vm::Vm& vm, const vm::Vma& vma, uint64_t offset, uint64_t size,
                           const Classes& classes, bool may_degrade, FaultResult* r) {
  const profiles::CostModel& cm = *d_.cost;
  gem::Bo& bo = *vma.bo;
  const uint64_t gran_bytes = bo.sparse()->granularity_pages() * mem::kPageSize;
  const uint64_t bo_offset = vma.bo_offset + offset;
  const uint64_t iova = vma.addr + offset;
  if (((size | bo_offset | iova) & (gran_bytes - 1)) || offset + size < offset ||
      offset + size > vma.range) {
    r->outcome = trace::FAULT_EINVAL;
    return -uapi::kEINVAL;
  }
  gem::PopulateStats st;
  const int ret =
      bo.sparse()->PopulateRange(bo.pages(), bo_offset / mem::kPageSize, size / mem::kPageSize,
                                 classes.page, classes.metadata, &st);
  r->pages += st.pages;
  r->metadata += st.metadata;
  r->cost_ns += st.metadata * Cost(cm.metadata_alloc);
  for (uint32_t p = 0; p < st.pages; p += mem::kPagesPerHuge) {
    // A huge folio costs one 2 MiB allocation; the rest are 4 KiB each.
    const uint32_t n = std::min<uint32_t>(st.pages - p, mem::kPagesPerHuge);
    r->cost_ns += n == mem::kPagesPerHuge ? Cost(cm.huge_alloc) : n * Cost(cm.page_alloc);
  }
  FaultTables tables(d_.memory, classes.table);
  if (ret == -uapi::kENOMEM && may_degrade) {
    const int prot = vm::Vm::FlagsToProt(vma.flags);
    if (std::optional<policy::Degraded> d = d_.policy->OnEnomem(vm, iova, size, prot)) {
      for (uint32_t i = 0; i < d->ptes; ++i) r->cost_ns += Cost(cm.pte_update);
      r->ptes += d->ptes;
      r->pt_pages += d->table_pages;
      r->cost_ns += d->table_pages * Cost(cm.page_alloc);
      r->cost_ns += Cost(cm.flush);
      d_.mmu->NoteCacheFlush();
      r->outcome = d->ret == 0 ? trace::FAULT_DEGRADED : trace::FAULT_ENOMEM;
      return d->ret;
    }
  }
  if (ret != 0) {
    r->outcome = OutcomeOf(ret);
    return ret;
  }
  const int map_ret = MapSgtEntries(vm, vma, bo_offset, size, &tables, r);
  r->pt_pages += tables.allocated();
  r->cost_ns += tables.allocated() * Cost(cm.page_alloc);
  r->cost_ns += Cost(cm.flush);
  d_.mmu->NoteCacheFlush();
  if (map_ret) r->outcome = OutcomeOf(map_ret);
  return map_ret;
}

// Maps each sgt entry covering the range (drm_gem_shmem_sparse_get_sgt()).
int FaultPath::MapSgtEntries(vm::Vm& vm, const vm::Vma& vma, uint64_t bo_offset, uint64_t size,
                             pgtable::TableAllocator* tables, FaultResult* r) {
  gem::Bo& bo = *vma.bo;
  const int prot = vm::Vm::FlagsToProt(vma.flags);
  const uint64_t first_page = bo_offset / mem::kPageSize;
  const uint64_t last_page = (bo_offset + size) / mem::kPageSize;
  uint64_t va = vma.addr + (bo_offset - vma.bo_offset);
  for (uint64_t p = first_page; p < last_page;) {
    uint64_t sgt_off, remaining;
    if (int ret = bo.sparse()->GetSgt(p, &sgt_off, &remaining); ret) return ret;
    uint64_t n = remaining;
    if (!HasSeedDefects(d_.variant)) {
      n = std::min(n, last_page - p);  // the fix: only the requested range
    } else if (va + n * mem::kPageSize > vma.end()) {
      // series-v3 maps the whole rest of the sgt entry (spec 7.1), even past
      // the VMA; the twin reports it and stops at the VMA's end.
      ++stats_.map_beyond_vma;
      d_.oopses->OnOops(
          vm.key(), "panthor_vm_map_on_demand_locked",
          absl::StrFormat("maps %d pages of an sgt entry past the end of VMA 0x%x", n, vma.addr));
      n = (vma.end() - va) / mem::kPageSize;
    }
    const int ret = vm.MapPages(va, prot, bo, p * mem::kPageSize, n * mem::kPageSize, tables);
    r->cost_ns += n * Cost(d_.cost->pte_update);
    r->ptes += static_cast<uint32_t>(n);
    if (ret) return ret;
    p += n;
    va += n * mem::kPageSize;
  }
  return 0;
}

int FaultPath::PreFaultRange(vm::Vm& vm, uint64_t iova, uint64_t size, const Classes& classes,
                             gem::PopulateStats* stats) {
  const vm::Vma* vma = vm.va_space().FindFirst(iova, 1);
  if (vma == nullptr || !vma->bo || !vma->bo->alloc_on_fault()) return -uapi::kEFAULT;
  FaultResult r;
  const int ret = MapOnDemand(vm, *vma, iova - vma->addr, size, classes, false, &r);
  stats->pages += r.pages;
  stats->metadata += r.metadata;
  return ret;
}

FaultResult FaultPath::HandleLocked(vm::Vm& vm, uint64_t addr) {
  FaultResult r;
  const vm::Vma* vma = vm.va_space().FindFirst(addr, 1);
  if (vma == nullptr || !vma->bo || !vma->bo->alloc_on_fault()) {
    r.ret = -uapi::kEFAULT;
    r.outcome = trace::FAULT_EFAULT;
    return r;
  }
  const uint64_t gran_pages = vma->bo->sparse()->granularity_pages();
  uint64_t iova, size;
  if (HasSeedDefects(d_.variant)) {
    // The seed masks with the granularity in pages and passes it as a byte
    // size: map_on_demand's alignment check can never pass (spec 1.4 (a)).
    iova = addr & ~(gran_pages - 1);
    size = gran_pages;
  } else {
    iova = addr & ~(gran_pages * mem::kPageSize - 1);
    size = gran_pages * mem::kPageSize;
  }
  r.ret = MapOnDemand(vm, *vma, iova - vma->addr, size, FaultClasses(), /*may_degrade=*/true, &r);
  return r;
}

void FaultPath::Work(std::shared_ptr<vm::Vm> vm, int as) {
  VmFault& vf = vm_faults_[vm->key()];
  // mutex_lock(&vm->op_lock): a running fault work holds it.
  if (vf.op_lock_until > d_.sched->now_ns()) {
    d_.sched->At(vf.op_lock_until, [this, vm, as] { Work(vm, as); });
    return;
  }
  vf.work_busy = true;
  const uint64_t start_ns = d_.sched->now_ns();
  const FaultResult r = HandleLocked(*vm, vf.addr);
  vf.op_lock_until = d_.sched->now_ns() + r.cost_ns;
  if (r.ret != 0) {
    // Logged now, reported to the scheduler from inside the work.
    d_.out->Log(mmu::FormatFaultLog(as, vf.addr, vf.status));
    listener_->ReportMmuFault(vm->key(), d_.sched->now_ns());
  }
  d_.sched->After(r.cost_ns, [this, vm, as, r, start_ns] {
    ++(r.ret != 0                           ? stats_.failed
       : r.outcome == trace::FAULT_DEGRADED ? stats_.degraded
                                            : stats_.handled);
    const VmFault& f = vm_faults_[vm->key()];
    trace::Event e;
    e.kind = trace::EVENT_MMU_FAULT;
    e.fault = {static_cast<uint32_t>(as),
               static_cast<uint32_t>(vm->key()),
               f.addr,
               f.status,
               r.outcome,
               r.pages,
               r.pt_pages,
               r.metadata,
               d_.sched->now_ns() - raised_ns_[as],
               trace::LATENCY_MODELLED};
    d_.out->Emit(e);
    if (timing_) {
      timing_({as, vm->key(), f.addr, f.status, r.ret, irq_ns_[as], start_ns, d_.sched->now_ns(),
               r.pages, r.pt_pages, r.metadata, r.ptes});
    }
    Done(vm, as, r);
  });
}

void FaultPath::Done(const std::shared_ptr<vm::Vm>& vm, int as, const FaultResult& r) {
  VmFault& vf = vm_faults_[vm->key()];
  vf.work_queued = false;
  vf.work_busy = false;
  // The VM lost its slot meanwhile: nothing to clear or disable here; the
  // stalled accesses wait for the slot's next fault to be handled.
  if (d_.mmu->SlotOf(vm->key()) != as) return;
  if (r.ret != 0) {
    // "If we failed to handle the fault, disable the AS to kill jobs."
    d_.mmu->Disable(as);
    listener_->OnAsDisabled(as);
    return;
  }
  vf.status = 0;
  vf.addr = 0;
  mmu::Mmu& mmu = *d_.mmu;
  mmu.Clear(1u << as);  // resumes the stalled accesses
  mmu.set_faulty_mask(mmu.faulty_mask() & ~(1u << as));
  mmu.set_int_mask(~mmu.faulty_mask());
  listener_->OnFaultCleared(as);
  RaiseIrqIfPending();
}

}  // namespace faultlab::fault
