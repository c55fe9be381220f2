#include "engine/heap/tiler_heaps.h"

#include <algorithm>

#include "engine/base/bits.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::heap {

namespace {
constexpr uint32_t kMaxHeapsPerPool = 128;  // MAX_HEAPS_PER_POOL
constexpr uint64_t kHeapCtxBytes = 64;      // one heap context in the pool's GPU buffer
// A chunk starts with a 64-byte header (its link to the next chunk; Mesa's
// panvk: "The tiler chunk start with a header of 64 bytes").
constexpr uint64_t kChunkHeaderBytes = 64;
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
    for (const auto& [key, h] : heaps_) {
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
  // The firmware starts with the initial chunks.
  for (uint32_t i = 0; i < a.initial_chunk_count; ++i)
    h.fw_free.push_back(bo_va + static_cast<uint64_t>(i) * a.chunk_size);
  heaps_[{vm.key(), ctx_va}] = std::move(h);
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

TilerHeaps::Heap* TilerHeaps::Find(uint64_t vm_key, uint64_t ctx_va) {
  auto it = heaps_.find({vm_key, ctx_va});
  return it == heaps_.end() ? nullptr : &it->second;
}
const TilerHeaps::Heap* TilerHeaps::Find(uint64_t vm_key, uint64_t ctx_va) const {
  auto it = heaps_.find({vm_key, ctx_va});
  return it == heaps_.end() ? nullptr : &it->second;
}

int TilerHeaps::GrowChunk(vm::Vm& vm, Heap& h, const HeapCounters& c, uint64_t* chunk_va,
                          uint64_t* cost) {
  const profiles::CostModel& cm = *d_.cost;
  // panthor_heap_grow(): more render passes in flight than the heap's
  // target, or no chunk left: -ENOMEM, the firmware finds memory another way.
  if (c.vt_start - c.frag_end > h.target_in_flight || h.chunk_count >= h.max_chunks)
    return -uapi::kENOMEM;
  if (!h.free_chunks.empty()) {
    *chunk_va = h.free_chunks.back();  // a returned chunk comes back first
    h.free_chunks.pop_back();
  } else {
    gem::PopulateStats st;
    const uint64_t va = h.bo_va + static_cast<uint64_t>(h.chunk_count) * h.chunk_size;
    // The series grows with the fault path's non-blocking classes;
    // mainline allocates the chunk with GFP_KERNEL.
    constexpr mem::AllocClass kBlocking = mem::AllocClass::kBlocking;
    const fault::Classes classes = HasAllocOnFault(d_.variant)
                                       ? d_.fault->FaultClasses()
                                       : fault::Classes{kBlocking, kBlocking, kBlocking};
    const int ret = d_.fault->PreFaultRange(vm, va, h.chunk_size, classes, &st);
    *cost += st.pages * Cost(cm.page_alloc);
    *cost += st.metadata * Cost(cm.metadata_alloc);
    if (ret) return -uapi::kENOMEM;
    *chunk_va = va;
  }
  ++h.chunk_count;
  return 0;
}

bool TilerHeaps::TilerOom(vm::Vm& vm, Heap* h, const HeapCounters& c, uint64_t* chunk_va,
                          uint64_t* cost) {
  *cost += Cost(d_.cost->heap_grow);
  trace::Event e;
  e.kind = trace::EVENT_HEAP_GROW;
  e.heap_grow.vm = static_cast<uint32_t>(vm.key());
  ++stats_.grows;
  bool granted = false;
  if (h != nullptr) {
    e.heap_grow.heap = h->handle;
    e.heap_grow.requested_bytes = h->chunk_size;
    granted = GrowChunk(vm, *h, c, chunk_va, cost) == 0;
  }
  e.heap_grow.granted_bytes = granted ? e.heap_grow.requested_bytes : 0;
  e.heap_grow.fallback = !granted;
  if (!granted) ++stats_.fallbacks;
  d_.out->Emit(e);
  return granted;
}

uint64_t TilerHeaps::Grow(vm::Vm& vm, uint64_t ctx_va) {
  // An access-range job's tiler OOM: one render pass in flight, none
  // pending fragments.
  uint64_t cost = 0, chunk = 0;
  TilerOom(vm, Find(vm.key(), ctx_va), {1, 0, 0}, &chunk, &cost);
  return cost;
}

bool TilerHeaps::Count(uint64_t vm_key, uint64_t ctx_va, uint32_t op) {
  Heap* h = Find(vm_key, ctx_va);
  if (h == nullptr) return false;
  if (op == 0) ++h->counters.vt_start;
  if (op == 1) ++h->counters.vt_end;
  if (op == 3) ++h->counters.frag_end;
  return true;
}

HeapCounters TilerHeaps::Counters(uint64_t vm_key, uint64_t ctx_va) const {
  const Heap* h = Find(vm_key, ctx_va);
  return h ? h->counters : HeapCounters{};
}

PolygonAlloc TilerHeaps::AllocPolygons(vm::Vm& vm, uint64_t ctx_va, uint64_t tiler_va,
                                       uint64_t bytes) {
  PolygonAlloc out;
  Heap* h = Find(vm.key(), ctx_va);
  // group_process_tiler_oom(): no heap pool or inconsistent counters
  // -EINVAL, no heap there -ENOENT: the queue is fatal. (Checked at every
  // draw: a tiler with no heap context runs out at once.)
  if (h == nullptr) {
    out.result = PolygonAlloc::Result::kFatal;
    out.why = "tiler OOM on no heap context of the VM (HEAP_SET)";
    return out;
  }
  const uint64_t room_per_chunk = h->chunk_size - kChunkHeaderBytes;
  Pass& pass = h->open[tiler_va];
  // The bytes fill the pass's last chunk after its header, then the next
  // chunk: the heap context's free ones first, then the kernel's.
  while (bytes > 0) {
    if (pass.chunks.empty() || pass.used.back() == room_per_chunk) {
      uint64_t chunk = 0;
      if (!h->fw_free.empty()) {
        chunk = h->fw_free.front();
        h->fw_free.pop_front();
      } else {
        const HeapCounters& c = h->counters;
        if (c.frag_end > c.vt_end || c.vt_end >= c.vt_start) {
          out.result = PolygonAlloc::Result::kFatal;
          out.why = "tiler OOM with no vertex/tiler work in flight (CS_HEAP_VT_START/VT_END)";
          return out;
        }
        if (!TilerOom(vm, h, c, &chunk, &out.cost_ns)) {
          out.result = PolygonAlloc::Result::kOom;
          out.remaining = bytes;
          return out;
        }
      }
      pass.chunks.push_back(chunk);
      pass.used.push_back(0);
    }
    const uint64_t take = std::min(bytes, room_per_chunk - pass.used.back());
    out.ranges.push_back({pass.chunks.back() + kChunkHeaderBytes + pass.used.back(), take});
    pass.used.back() += take;
    bytes -= take;
  }
  return out;
}

std::pair<uint64_t, uint64_t> TilerHeaps::OpenPass(uint64_t vm_key, uint64_t ctx_va,
                                                   uint64_t tiler_va) const {
  const Heap* h = Find(vm_key, ctx_va);
  if (h == nullptr) return {0, 0};
  auto it = h->open.find(tiler_va);
  if (it == h->open.end() || it->second.chunks.empty()) return {0, 0};
  return {it->second.chunks.front(), it->second.chunks.back()};
}

void TilerHeaps::ClosePass(uint64_t vm_key, uint64_t ctx_va, uint64_t tiler_va) {
  Heap* h = Find(vm_key, ctx_va);
  if (h == nullptr) return;
  auto it = h->open.find(tiler_va);
  if (it == h->open.end()) return;
  if (!it->second.chunks.empty()) h->closed[it->second.chunks.front()] = std::move(it->second);
  h->open.erase(it);
}

std::vector<PolygonRange> TilerHeaps::PassLists(uint64_t vm_key, uint64_t ctx_va,
                                                uint64_t top) const {
  std::vector<PolygonRange> out;
  const Heap* h = Find(vm_key, ctx_va);
  if (h == nullptr) return out;
  auto it = h->closed.find(top);
  if (it == h->closed.end()) return out;
  for (size_t i = 0; i < it->second.chunks.size(); ++i) {
    if (it->second.used[i])
      out.push_back({it->second.chunks[i] + kChunkHeaderBytes, it->second.used[i]});
  }
  return out;
}

bool TilerHeaps::ReturnChunks(uint64_t vm_key, uint64_t ctx_va, uint64_t first, uint64_t last) {
  Heap* h = Find(vm_key, ctx_va);
  if (h == nullptr) return false;
  auto it = h->closed.find(first);
  if (it == h->closed.end() || it->second.chunks.back() != last) return false;
  for (uint64_t chunk : it->second.chunks) h->fw_free.push_back(chunk);
  h->closed.erase(it);
  return true;
}

bool TilerHeaps::MayServe(uint64_t vm_key, uint64_t ctx_va) const {
  const Heap* h = Find(vm_key, ctx_va);
  if (h == nullptr || !h->fw_free.empty()) return true;
  const HeapCounters& c = h->counters;
  return c.vt_start - c.frag_end <= h->target_in_flight && h->chunk_count < h->max_chunks;
}

}  // namespace faultlab::heap
