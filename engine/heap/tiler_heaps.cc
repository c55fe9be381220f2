#include "engine/heap/tiler_heaps.h"

#include <algorithm>

#include "engine/base/bits.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::heap {

namespace {
constexpr uint32_t kMaxHeapsPerPool = 128;  // MAX_HEAPS_PER_POOL
constexpr uint64_t kHeapCtxBytes = 64;      // one heap context in the pool's GPU buffer
}  // namespace

uint64_t TilerHeaps::AllocKernelVa(vm::Vm& vm, uint64_t size, uint64_t granule) {
  // drm_mm in the kernel VA range: 2 MiB alignment from 2 MiB up, else 4 KiB;
  // an alloc-on-fault BO's VA also on its granule (map_on_demand's check).
  uint64_t& next = kernel_va_next_[vm.key()];
  if (next == 0) next = vm.kernel_va_start();
  const uint64_t align = std::max<uint64_t>(size >= (2ULL << 20) ? (2ULL << 20) : 4096, granule);
  const uint64_t at = (next + align - 1) & ~(align - 1);
  if (at + size > vm.kernel_va_start() + vm.kernel_va_range()) return 0;
  next = at + size;
  return at;
}

// The lowest free heap id of the VM's pool (xa_alloc from 1).
uint32_t TilerHeaps::LowestFreeId(uint64_t vm_key) const {
  uint32_t id = 1;
  for (bool again = true; again;) {
    again = false;
    for (const auto& [va, h] : heaps_) {
      if (h.vm_key == vm_key && (h.handle & 0xffff) == id) {
        ++id;
        again = true;
      }
    }
  }
  return id;
}

int TilerHeaps::Create(vm::Vm& vm, uint32_t vm_id, const HeapArgs& a, HeapCreated* out) {
  using namespace uapi;                 // NOLINT
  if (vm.destroyed()) return -kEINVAL;  // the heap pool is gone
  pools_.insert(vm.key());              // panthor_vm_get_heap_pool(vm, true)
  // panthor_heap_create()'s checks.
  if (a.initial_chunk_count == 0 || a.initial_chunk_count > a.max_chunks) return -kEINVAL;
  if ((a.chunk_size & (kPageSize - 1)) || a.chunk_size < (128u << 10) ||
      a.chunk_size > (8u << 20)) {
    return -kEINVAL;
  }
  const uint32_t id = LowestFreeId(vm.key());
  if (id >= kMaxHeapsPerPool) return -kENOMEM;
  // The series: the heap BO's granule is the chunk size, and sparse_init
  // takes only a power of two (see the header).
  const bool series = HasAllocOnFault(d_.variant);
  if (series && !IsPowerOf2(a.chunk_size)) return -kEINVAL;
  const uint32_t granule = series ? a.chunk_size : kPageSize;
  const uint64_t size = static_cast<uint64_t>(a.max_chunks) * a.chunk_size;
  std::shared_ptr<gem::Bo> bo =
      d_.objects->CreateKernel(size, kPanthorBoNoMmap | kPanthorBoAllocOnFault, granule, vm.key());
  const uint64_t bo_va = AllocKernelVa(vm, size, granule);
  const uint64_t ctx_va = AllocKernelVa(vm, kHeapCtxBytes, kPageSize);
  if (bo_va == 0 || ctx_va == 0) return -kENOMEM;
  vm::OpCtx ctx;
  int ret =
      vm.PrepareMap(bo, 0, size, bo_va, kPanthorVmBindOpTypeMap | kPanthorVmBindOpMapNoexec, &ctx);
  if (ret == 0) ret = vm.Exec(ctx, false);
  vm.Cleanup(ctx);
  if (ret) return ret;
  // Initial chunks: blocking allocation (page_gfp = mapping_gfp_mask, GFP_KERNEL).
  constexpr mem::AllocClass kBlocking = mem::AllocClass::kBlocking;
  gem::PopulateStats st;
  ret = d_.fault->PreFaultRange(vm, bo_va,
                                static_cast<uint64_t>(a.initial_chunk_count) * a.chunk_size,
                                {kBlocking, kBlocking, kBlocking}, &st);
  if (ret) {
    vm::OpCtx un;
    if (vm.PrepareUnmap(bo_va, size, &un) == 0) vm.Exec(un, false);
    vm.Cleanup(un);
    return ret;
  }
  Heap h;
  h.handle = vm_id << 16 | id;
  h.vm_key = vm.key();
  h.bo = std::move(bo);
  h.bo_va = bo_va;
  h.ctx_va = ctx_va;
  h.chunk_size = a.chunk_size;
  h.max_chunks = a.max_chunks;
  h.chunk_count = a.initial_chunk_count;
  h.target_in_flight = a.target_in_flight;
  heaps_[ctx_va] = std::move(h);
  *out = {vm_id << 16 | id, ctx_va, bo_va};
  return 0;
}

int TilerHeaps::Destroy(vm::Vm& vm, uint32_t handle) {
  if (!pools_.count(vm.key())) return -uapi::kENOENT;
  for (auto it = heaps_.begin(); it != heaps_.end(); ++it) {
    if (it->second.vm_key != vm.key() || (it->second.handle & 0xffff) != (handle & 0xffff))
      continue;
    vm::OpCtx un;
    if (vm.PrepareUnmap(it->second.bo_va, it->second.bo->size_bytes(), &un) == 0)
      vm.Exec(un, false);
    vm.Cleanup(un);
    heaps_.erase(it);
    return 0;
  }
  return -uapi::kEINVAL;
}

void TilerHeaps::DropVm(uint64_t vm_key) {
  pools_.erase(vm_key);
  for (auto it = heaps_.begin(); it != heaps_.end();) {
    it = it->second.vm_key == vm_key ? heaps_.erase(it) : std::next(it);
  }
}

uint64_t TilerHeaps::Grow(vm::Vm& vm, uint64_t ctx_va) {
  const profiles::CostModel& cm = *d_.cost;
  uint64_t cost = Cost(cm.heap_grow);
  trace::Event e;
  e.kind = trace::EVENT_HEAP_GROW;
  e.heap_grow.vm = static_cast<uint32_t>(vm.key());
  ++stats_.grows;
  auto it = heaps_.find(ctx_va);
  bool granted = false;
  if (it != heaps_.end() && it->second.vm_key == vm.key()) {
    Heap& h = it->second;
    e.heap_grow.heap = h.handle;
    e.heap_grow.requested_bytes = h.chunk_size;
    // renderpasses_in_flight (1 here) > target_in_flight, or no chunk left: -ENOMEM.
    if (h.target_in_flight >= 1 && h.chunk_count < h.max_chunks) {
      if (!h.free_chunks.empty()) {
        h.free_chunks.pop_back();  // a returned chunk comes back first
        granted = true;
      } else {
        gem::PopulateStats st;
        const uint64_t va = h.bo_va + static_cast<uint64_t>(h.chunk_count) * h.chunk_size;
        // The series grows with the fault path's non-blocking classes;
        // mainline allocates the chunk with GFP_KERNEL.
        constexpr mem::AllocClass kBlocking = mem::AllocClass::kBlocking;
        const fault::Classes classes = HasAllocOnFault(d_.variant)
                                           ? d_.fault->FaultClasses()
                                           : fault::Classes{kBlocking, kBlocking, kBlocking};
        granted = d_.fault->PreFaultRange(vm, va, h.chunk_size, classes, &st) == 0;
        cost += st.pages * Cost(cm.page_alloc);
        cost += st.metadata * Cost(cm.metadata_alloc);
      }
      if (granted) ++h.chunk_count;
    }
  }
  e.heap_grow.granted_bytes = granted ? e.heap_grow.requested_bytes : 0;
  e.heap_grow.fallback = !granted;
  if (!granted) ++stats_.fallbacks;
  d_.out->Emit(e);
  return cost;
}

}  // namespace faultlab::heap
