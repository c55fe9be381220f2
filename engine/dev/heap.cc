// Tiler heaps with series 6/8 and 7/8 (panthor_heap.c): one alloc-on-fault BO
// per heap, mapped NOEXEC at a kernel VA; initial chunks pre-faulted with
// blocking allocation; growth on the firmware's tiler-OOM event with
// non-blocking allocation, returned chunks reused first; failed growth falls
// back to incremental rendering (the job survives).
#include <algorithm>

#include "engine/dev/device.h"
#include "engine/dev/fault_result.h"
#include "engine/uapi/errno.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT

namespace {
constexpr uint32_t kMaxHeapsPerPool = 128;  // MAX_HEAPS_PER_POOL
constexpr uint64_t kHeapCtxBytes = 64;      // one heap context in the pool's GPU buffer
}  // namespace

uint64_t Device::AllocKernelVa(vm::Vm& vm, uint64_t size) {
  // drm_mm in the kernel VA range: 2 MiB alignment from 2 MiB up, else 4 KiB.
  // Freed kernel VA is not reused by this model (a bump allocator).
  uint64_t& next = kernel_va_next_[vm.key()];
  if (next == 0) next = vm.kernel_va_start();
  const uint64_t align = size >= (2ULL << 20) ? (2ULL << 20) : 4096;
  const uint64_t at = (next + align - 1) & ~(align - 1);
  if (at + size > vm.kernel_va_start() + vm.kernel_va_range()) return 0;
  next = at + size;
  return at;
}

// Models panthor_vm_pre_fault_range() (series 6/8): byte sizes, correct in
// both variants.
int Device::PreFaultRange(vm::Vm& vm, uint64_t iova, uint64_t size, mem::AllocClass page_cls,
                          mem::AllocClass other_cls, gem::PopulateStats* stats) {
  const vm::Vma* vma = vm.va_space().FindFirst(iova, 1);
  if (vma == nullptr || !vma->bo || !vma->bo->alloc_on_fault()) return -kEFAULT;
  FaultResult r;
  const int ret = MapOnDemand(vm, *vma, iova - vma->addr, size, page_cls, other_cls, false, &r);
  stats->pages += r.pages;
  stats->metadata += r.metadata;
  return ret;
}

// Models panthor_ioctl_tiler_heap_create() -> panthor_heap_create().
int Device::IoctlTilerHeapCreate(File& f, void* data) {
  auto* a = static_cast<PanthorTilerHeapCreate*>(data);
  auto vit = f.vms_.find(a->vm_id);
  if (vit == f.vms_.end()) return -kEINVAL;
  vm::Vm& vm = *vit->second;
  if (vm.destroyed()) return -kEINVAL;  // the heap pool is gone
  if (a->initial_chunk_count == 0 || a->initial_chunk_count > a->max_chunks) return -kEINVAL;
  if ((a->chunk_size & (kPageSize - 1)) || a->chunk_size < (128u << 10) ||
      a->chunk_size > (8u << 20)) {
    return -kEINVAL;
  }
  // The lowest free heap id of this VM's pool (xa_alloc from 1).
  uint32_t id = 1;
  for (bool again = true; again;) {
    again = false;
    for (const auto& [va, h] : heaps_) {
      if (h.vm_key == vm.key() && (h.handle & 0xffff) == id) {
        ++id;
        again = true;
      }
    }
  }
  if (id >= kMaxHeapsPerPool) return -kENOMEM;
  // The heap BO: NO_MMAP | ALLOC_ON_FAULT, granularity = chunk size.
  const uint64_t size = static_cast<uint64_t>(a->max_chunks) * a->chunk_size;
  auto bo = std::make_shared<gem::Bo>(&memory_, next_bo_id_++, size,
                                      kPanthorBoNoMmap | kPanthorBoAllocOnFault, a->chunk_size,
                                      vm.key());
  const uint64_t bo_va = AllocKernelVa(vm, size);
  const uint64_t ctx_va = AllocKernelVa(vm, kHeapCtxBytes);
  if (bo_va == 0 || ctx_va == 0) return -kENOMEM;
  vm::OpCtx ctx;
  int ret = vm.PrepareMap(bo, 0, size, bo_va,
                          kPanthorVmBindOpTypeMap | kPanthorVmBindOpMapNoexec, &ctx);
  if (ret == 0) ret = vm.Exec(ctx, false);
  vm.Cleanup(ctx);
  if (ret) return ret;
  // Initial chunks: blocking allocation (page_gfp = mapping_gfp_mask, GFP_KERNEL).
  gem::PopulateStats st;
  ret = PreFaultRange(vm, bo_va, static_cast<uint64_t>(a->initial_chunk_count) * a->chunk_size,
                      mem::AllocClass::kBlocking, mem::AllocClass::kBlocking, &st);
  if (ret) {
    vm::OpCtx un;
    if (vm.PrepareUnmap(bo_va, size, &un) == 0) vm.Exec(un, false);
    vm.Cleanup(un);
    return ret;
  }
  Heap h;
  h.handle = a->vm_id << 16 | id;
  h.vm_key = vm.key();
  h.bo = std::move(bo);
  h.bo_va = bo_va;
  h.ctx_va = ctx_va;
  h.chunk_size = a->chunk_size;
  h.max_chunks = a->max_chunks;
  h.chunk_count = a->initial_chunk_count;
  h.target_in_flight = a->target_in_flight;
  heaps_[ctx_va] = std::move(h);
  a->handle = a->vm_id << 16 | id;
  a->tiler_heap_ctx_gpu_va = ctx_va;
  a->first_heap_chunk_gpu_va = bo_va;
  return 0;
}

// Models panthor_ioctl_tiler_heap_destroy() -> panthor_heap_destroy().
int Device::IoctlTilerHeapDestroy(File& f, void* data) {
  auto* a = static_cast<PanthorTilerHeapDestroy*>(data);
  if (a->pad) return -kEINVAL;
  auto vit = f.vms_.find(a->handle >> 16);
  if (vit == f.vms_.end()) return -kEINVAL;
  vm::Vm& vm = *vit->second;
  for (auto it = heaps_.begin(); it != heaps_.end(); ++it) {
    if (it->second.vm_key != vm.key() || (it->second.handle & 0xffff) != (a->handle & 0xffff)) {
      continue;
    }
    vm::OpCtx un;
    if (vm.PrepareUnmap(it->second.bo_va, it->second.bo->size_bytes(), &un) == 0) {
      vm.Exec(un, false);
    }
    vm.Cleanup(un);
    heaps_.erase(it);
    return 0;
  }
  return -kEINVAL;
}

// Models panthor_heap_grow() on a tiler-OOM event. Returns the virtual time it
// took; the job goes on either way (a failed growth means incremental rendering).
uint64_t Device::HeapGrow(const std::shared_ptr<Job>& job, uint64_t ctx_va) {
  const CostModel& cm = config_.profile.cost;
  uint64_t cost = Cost(cm.heap_grow);
  trace::Event e;
  e.kind = trace::EVENT_HEAP_GROW;
  e.heap_grow.vm = static_cast<uint32_t>(job->group->vm->key());
  ++stats_.heap_grows;
  auto it = heaps_.find(ctx_va);
  bool granted = false;
  if (it != heaps_.end() && it->second.vm_key == job->group->vm->key()) {
    Heap& h = it->second;
    e.heap_grow.heap = h.handle;
    e.heap_grow.requested_bytes = h.chunk_size;
    // renderpasses_in_flight (1 here) > target_in_flight, or no chunk left: -ENOMEM.
    if (h.target_in_flight >= 1 && h.chunk_count < h.max_chunks) {
      if (!h.free_chunks.empty()) {
        h.free_chunks.pop_back();  // a returned chunk comes back first
        granted = true;
      } else {
        const mem::AllocClass page_cls = FaultPageClass();
        const mem::AllocClass other_cls =
            page_cls == mem::AllocClass::kPool ? mem::AllocClass::kNoretry : page_cls;
        gem::PopulateStats st;
        const uint64_t va = h.bo_va + static_cast<uint64_t>(h.chunk_count) * h.chunk_size;
        granted = PreFaultRange(*job->group->vm, va, h.chunk_size, page_cls, other_cls, &st) == 0;
        cost += st.pages * Cost(cm.page_alloc) + st.metadata * Cost(cm.metadata_alloc);
      }
      if (granted) ++h.chunk_count;
    }
  }
  e.heap_grow.granted_bytes = granted ? e.heap_grow.requested_bytes : 0;
  e.heap_grow.fallback = !granted;
  if (!granted) ++stats_.heap_grow_fallbacks;
  Emit(e);
  return cost;
}

}  // namespace faultlab::dev
