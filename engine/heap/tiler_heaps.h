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
// The firmware's side of a heap — the chunks its heap context holds free,
// the tiler's polygon lists filling them pass by pass, FINISH_FRAGMENT
// handing a finished pass's chunks back — is engine state here, not bytes in
// the heap context (whose layout is the firmware's and not public): a
// pass's polygon lists fill chunks from the heap context's free chunks (the
// initial chunks first, then returned ones); with none left the tiler
// raises a tiler OOM and the kernel grows the heap (group_process_tiler_oom()
// -> panthor_heap_grow()).
//
//   TilerHeaps heaps({&sched, &objects, &fault_path, &cost, &out, variant});
//   HeapCreated h;
//   int ret = heaps.Create(vm, vm_id, {1, 128 << 10, 64, 4}, &h);
//   uint64_t ns = heaps.Grow(vm, h.ctx_va);   // a tiler-OOM event
//   PolygonAlloc a = heaps.AllocPolygons(vm, h.ctx_va, tiler_va, 4096, counters);
#ifndef FAULTLAB_ENGINE_HEAP_TILER_HEAPS_H_
#define FAULTLAB_ENGINE_HEAP_TILER_HEAPS_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
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

// A heap context's counters, as a tiler OOM reports them to the kernel
// (CS_HEAP_VT_START, CS_HEAP_VT_END, CS_HEAP_FRAG_END). They count what every
// queue that HEAP_SET the context did — panvk starts and ends tiling on one
// queue and fragments on another, and the kernel's in-flight arithmetic
// needs both (modelled: the firmware fills the faulting CS's registers).
struct HeapCounters {
  uint32_t vt_start = 0;
  uint32_t vt_end = 0;
  uint32_t frag_end = 0;
};

// A stretch of polygon list the tiler writes (or a fragment pass reads).
struct PolygonRange {
  uint64_t va = 0;
  uint64_t bytes = 0;
};

// What the tiler got for a draw's polygon list.
struct PolygonAlloc {
  enum class Result {
    kOk,     // `ranges` hold the bytes, written now
    kOom,    // no chunk: the kernel said -ENOMEM (or nothing grows): the
             // firmware runs the exception handler, or waits for chunks
    kFatal,  // the kernel refused the tiler OOM (`why`): the queue is fatal
  };
  Result result = Result::kOk;
  std::vector<PolygonRange> ranges;  // written (all of it, or what fit before the OOM)
  uint64_t remaining = 0;            // kOom: the bytes still to write
  uint64_t cost_ns = 0;              // the kernel's growths
  std::string why;
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
  // The tiler writes `bytes` of polygon list for the pass open on tiler
  // context `tiler_va` (opening it), in chunks of the heap at `ctx_va`; a
  // chunk's first 64 bytes are its header. A tiler OOM leaves what fit
  // written and says how much remains.
  PolygonAlloc AllocPolygons(vm::Vm& vm, uint64_t ctx_va, uint64_t tiler_va, uint64_t bytes);
  // HEAP_OPERATION (0 vertex/tiler started, 1 completed, 3 fragment
  // completed) on the heap context a queue HEAP_SET; false for no heap there.
  bool Count(uint64_t vm_key, uint64_t ctx_va, uint32_t op);
  HeapCounters Counters(uint64_t vm_key, uint64_t ctx_va) const;
  // The first and last chunk of the pass open on `tiler_va` (0, 0: none) —
  // what the tiler writes as the tiler context's completed top and bottom.
  std::pair<uint64_t, uint64_t> OpenPass(uint64_t vm_key, uint64_t ctx_va, uint64_t tiler_va) const;
  // The tiling of that pass is done: its chunks wait for FINISH_FRAGMENT.
  void ClosePass(uint64_t vm_key, uint64_t ctx_va, uint64_t tiler_va);
  // The polygon lists of the closed pass whose first chunk is `top`.
  std::vector<PolygonRange> PassLists(uint64_t vm_key, uint64_t ctx_va, uint64_t top) const;
  // FINISH_FRAGMENT: the closed pass from `first` to `last` hands its
  // chunks back to the heap context's free chunks. False when no such pass.
  bool ReturnChunks(uint64_t vm_key, uint64_t ctx_va, uint64_t first, uint64_t last);
  // Whether a tiler waiting for a chunk may get one now: the heap context
  // holds a free one, or the kernel's checks would let the heap grow (the
  // allocation may still fail). True for no heap: running again says so.
  bool MayServe(uint64_t vm_key, uint64_t ctx_va) const;
  // panthor_vm_destroy(): the VM's heap pool goes, with its heaps.
  void DropVm(uint64_t vm_key);

  const HeapStats& stats() const { return stats_; }

 private:
  // A pass's chunks in the order the tiler took them, and the bytes used
  // of each.
  struct Pass {
    std::vector<uint64_t> chunks;
    std::vector<uint64_t> used;
  };
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
    // The firmware's: free chunks (front first), passes tiling by tiler
    // context, passes tiled by their first chunk.
    std::deque<uint64_t> fw_free;
    HeapCounters counters;
    std::map<uint64_t, Pass> open;
    std::map<uint64_t, Pass> closed;
  };
  // Models panthor_heap_grow() for a tiler OOM with the queue's counters:
  // 0 and the new chunk's VA, -ENOMEM, or another -errno.
  int GrowChunk(vm::Vm& vm, Heap& h, const HeapCounters& c, uint64_t* chunk_va, uint64_t* cost);
  // One tiler OOM the kernel handles for heap `h` (nullptr: none there):
  // its cost, its heap_grow event and counts. True when a chunk came.
  bool TilerOom(vm::Vm& vm, Heap* h, const HeapCounters& c, uint64_t* chunk_va, uint64_t* cost);
  // The heap of VM `vm_key` whose context is at `ctx_va`; nullptr for none.
  Heap* Find(uint64_t vm_key, uint64_t ctx_va);
  const Heap* Find(uint64_t vm_key, uint64_t ctx_va) const;
  uint32_t LowestFreeId(uint64_t vm_key) const;
  uint64_t AllocKernelVa(vm::Vm& vm, uint64_t size, uint64_t granule);
  uint64_t Cost(const profiles::CostRange& c) { return c.Draw(d_.sched->prng()); }

  const Deps d_;
  // Every heap by its VM's key and its context's GPU VA (unique in a VM:
  // kernel VAs are never reused; every VM's kernel VA range starts alike).
  std::map<std::pair<uint64_t, uint64_t>, Heap> heaps_;
  // The VM keys with a heap pool.
  std::set<uint64_t> pools_;
  // Per VM key: the next free kernel VA (a bump allocator: freed kernel VA
  // is not reused by this model).
  std::map<uint64_t, uint64_t> kernel_va_next_;
  HeapStats stats_;
};

}  // namespace faultlab::heap

#endif  // FAULTLAB_ENGINE_HEAP_TILER_HEAPS_H_
