// TilerHeaps: the tiler heaps of panthor_heap.c with the series (6/8, 7/8):
// one alloc-on-fault BO per heap of max_chunks * chunk_size (its granularity
// the chunk size), mapped NOEXEC at a kernel VA of its VM; the initial chunks
// pre-faulted with blocking allocation; growth on the firmware's tiler-OOM
// event with the fault path's non-blocking classes, returned chunks reused
// first; a growth that fails makes the firmware fall back to incremental
// rendering — the job survives (counted apart from faults).
//
// The series makes the chunk size the heap BO's granule, and
// drm_gem_shmem_sparse_init() takes only a power of two: on the series'
// variants a chunk size the kernel's checks accept but that is no power of
// two (192 KiB) leaves the BO without its sparse backing, and pre-faulting
// the initial chunks fails: TILER_HEAP_CREATE is -EINVAL. The heap BO's VA is
// aligned to its granule, as map_on_demand's alignment check needs.
// `mainline` has no alloc-on-fault: it allocates a kernel BO per chunk,
// blocking (panthor_alloc_heap_chunk(), GFP_KERNEL), at creation and on
// growth. The twin keeps those chunks in one sparse kernel BO too, with a
// one-page granule, each chunk's pages allocated whole with blocking
// classes: the same pages, the same VA layout, any valid chunk size.
//
//   TilerHeaps heaps({&sched, &objects, &fault_path, &cost, &out, variant});
//   HeapCreated h;
//   int ret = heaps.Create(vm, vm_id, {1, 128 << 10, 64, 4}, &h);
//   uint64_t ns = heaps.Grow(vm, h.ctx_va);   // a tiler-OOM event
#ifndef FAULTLAB_ENGINE_HEAP_TILER_HEAPS_H_
#define FAULTLAB_ENGINE_HEAP_TILER_HEAPS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "engine/base/variant.h"
#include "engine/events/emitter.h"
#include "engine/fault/fault_path.h"
#include "engine/gem/objects.h"
#include "engine/profiles/profile.h"
#include "engine/sim/scheduler.h"
#include "engine/vm/vm.h"

namespace faultlab::heap {

// DRM_IOCTL_PANTHOR_TILER_HEAP_CREATE's inputs ...
struct HeapArgs {
  uint32_t initial_chunk_count = 0;
  uint32_t chunk_size = 0;
  uint32_t max_chunks = 0;
  uint32_t target_in_flight = 0;
};
// ... and outputs.
struct HeapCreated {
  uint32_t handle = 0;  // (vm_id << 16) | heap id
  uint64_t ctx_va = 0;
  uint64_t first_chunk_va = 0;
};

struct HeapStats {
  uint64_t grows = 0;      // tiler-OOM events
  uint64_t fallbacks = 0;  // growths refused: incremental rendering
};

class TilerHeaps {
 public:
  struct Deps {
    sim::Scheduler* sched;
    gem::Objects* objects;
    fault::FaultPath* fault;
    const profiles::CostModel* cost;
    events::Emitter* out;
    Variant variant;
  };
  explicit TilerHeaps(const Deps& deps) : d_(deps) {}

  // Models panthor_heap_create() on `vm` (id `vm_id` in its file): the
  // kernel's argument checks, then the heap BO, its mapping and its initial
  // chunks. 0 or -errno.
  int Create(vm::Vm& vm, uint32_t vm_id, const HeapArgs& args, HeapCreated* out);
  // Models panthor_ioctl_tiler_heap_destroy() from the VM on:
  // panthor_vm_get_heap_pool(vm, false) is -ENOENT before the VM's first
  // TILER_HEAP_CREATE (which creates the pool, whatever it returns), and
  // panthor_heap_destroy() -EINVAL for no such heap.
  int Destroy(vm::Vm& vm, uint32_t handle);
  // Models panthor_heap_grow() on a tiler-OOM event for the heap whose
  // context is at `ctx_va` of `vm`. Returns the virtual time it took; the
  // job goes on either way.
  uint64_t Grow(vm::Vm& vm, uint64_t ctx_va);
  // panthor_vm_destroy(): the VM's heap pool goes, with its heaps.
  void DropVm(uint64_t vm_key);

  const HeapStats& stats() const { return stats_; }

 private:
  struct Heap {
    uint32_t handle = 0;
    uint64_t vm_key = 0;
    std::shared_ptr<gem::Bo> bo;
    uint64_t bo_va = 0;
    uint64_t ctx_va = 0;
    uint32_t chunk_size = 0;
    uint32_t max_chunks = 0;
    uint32_t chunk_count = 0;  // chunks handed out: initial + grown
    uint32_t target_in_flight = 0;
    std::vector<uint64_t> free_chunks;  // returned chunks, reused first
  };
  uint32_t LowestFreeId(uint64_t vm_key) const;
  uint64_t AllocKernelVa(vm::Vm& vm, uint64_t size, uint64_t granule);
  uint64_t Cost(const profiles::CostRange& c) { return c.Draw(d_.sched->prng()); }

  const Deps d_;
  // Every heap by its context's GPU VA (unique: kernel VAs are never reused).
  std::map<uint64_t, Heap> heaps_;
  // The VM keys with a heap pool.
  std::set<uint64_t> pools_;
  // Per VM key: the next free kernel VA (a bump allocator: freed kernel VA
  // is not reused by this model).
  std::map<uint64_t, uint64_t> kernel_va_next_;
  HeapStats stats_;
};

}  // namespace faultlab::heap

#endif  // FAULTLAB_ENGINE_HEAP_TILER_HEAPS_H_
