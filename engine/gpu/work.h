// What a RUN_* instruction's work touches in memory (docs/engine.md "GPU
// work"). The twin runs no shaders: it reads the staging registers as the
// hardware does, follows the descriptors they name and returns every range
// those descriptors cover — conservatively, whole ranges, as a shader that
// reads (or writes) all of its resources would. The executor then touches
// the ranges page by page through the page tables, so an alloc-on-fault
// page no access reached before faults here exactly as a GPU access would.
//
// Layouts: Mesa 25.0.7's src/panfrost/lib/genxml/v10.xml ("Resource",
// "Buffer", "Texture", "Plane", "Shader Program", "Local Storage", "COMPUTE
// SR"); the pointer encodings (a resource table's count in its low 6 bits,
// the FAU's count in [63:56]) as Mesa's panfrost and panvk write them.
//
//   Footprint f;
//   uint32_t st = ComputeFootprint(regs, word, shape, mem, &f);
//   if (st) ...fault at f.fault_va...; else run f.ranges
#ifndef FAULTLAB_ENGINE_GPU_WORK_H_
#define FAULTLAB_ENGINE_GPU_WORK_H_

#include <cstdint>
#include <vector>

#include "engine/gpu/job.h"

namespace faultlab::gpu {

// The GPU memory a footprint reads its descriptors from.
class GpuMemory {
 public:
  virtual ~GpuMemory() = default;
  // Reads `n` bytes at `va` through the page tables: 0, or the fault
  // status (and `*fault_va`).
  virtual uint32_t Read(uint64_t va, void* out, uint32_t n, uint64_t* fault_va) = 0;
  // Whether `va` is mapped writable: a range the twin cannot tell is read
  // or written is written where the mapping allows it.
  virtual bool Writable(uint64_t va) = 0;
  // How many bytes from `va` on one mapping covers (0: unmapped).
  virtual uint64_t MappedBytes(uint64_t va) = 0;
};

// What the device running the work is like.
struct WorkShape {
  // Threads resident at once over all cores (max_threads x cores): thread
  // storage is allocated for at most that many.
  uint64_t resident_threads = 0;
  uint64_t cores = 0;
};

struct Footprint {
  std::vector<GpuAccess> ranges;
  uint64_t fault_va = 0;  // where a descriptor read faulted
};

// Bounds a hostile stream cannot push past: descriptors read per table,
// texture planes per texture, descriptor reads per footprint in all (the
// ranges they name are touched whole; past a bound the walk stops).
constexpr uint32_t kMaxDescriptorsPerTable = 16384;
constexpr uint32_t kMaxPlanesPerTexture = 4096;
constexpr uint32_t kMaxDescriptorReads = 65536;

// What a draw asks of the tiler: the tiler context it bins into and the
// polygon-list bytes it writes (PolygonListBytes).
struct Draw {
  uint64_t tiler_ctx = 0;
  uint64_t primitives = 0;
  uint64_t vertices = 0;
  uint64_t polygon_bytes = 0;
};

// The polygon-list bytes a draw writes into the tiler heap (modelled; the
// hardware's format is not public): a 128-byte copy of its draw descriptor,
// 32 bytes a primitive (binned at the hierarchy level where its box spans
// 2x2 bins, 8 bytes a bin entry: the twin does not know the primitive's
// size, it has no vertex positions), and — with IDVS's heap allocation of
// vertex outputs ("Malloc enable") — 16 bytes of position a vertex.
uint64_t PolygonListBytes(uint64_t primitives, uint64_t vertices, bool malloc_positions);

// The primitives `count` vertices make in v10 draw mode `mode` ("Draw
// Mode": points, lines, strips, fans, ...).
uint64_t Primitives(uint32_t mode, uint64_t count);

// RUN_COMPUTE and RUN_COMPUTE_INDIRECT (word `w`): the shader environment
// its selects name in "COMPUTE SR" — the resource table, FAU, shader program
// and thread storage — and what they point to. 0, or the fault status of a
// descriptor read.
uint32_t ComputeFootprint(const CsRegs& regs, uint64_t w, const WorkShape& shape, GpuMemory& mem,
                          Footprint* out);

// RUN_IDVS and RUN_TILING: per "IDVS SR", the position, varying and
// fragment shaders' environments (IDVS; RUN_TILING's one, by its selects),
// the index buffer, blend and depth/stencil descriptors, the occlusion
// query, the tiler context and its heap descriptor and geometry buffer;
// `*draw` says what the tiler must write.
uint32_t DrawFootprint(const CsRegs& regs, uint64_t w, const WorkShape& shape, GpuMemory& mem,
                       Footprint* out, Draw* draw);

// RUN_FRAGMENT: per "FRAGMENT SR", the framebuffer descriptor, its ZS/CRC
// extension and render targets — every surface written whole — the frame
// shaders' draw descriptors, the tile enable map; `*tiler_ctx` is the
// tiler context whose polygon lists it reads (the caller adds those).
uint32_t FragmentFootprint(const CsRegs& regs, uint64_t w, const WorkShape& shape, GpuMemory& mem,
                           Footprint* out, uint64_t* tiler_ctx);

// RUN_FULLSCREEN: the draw descriptor in the pair its [47:40] names, and
// what it points to.
uint32_t FullscreenFootprint(const CsRegs& regs, uint64_t w, const WorkShape& shape, GpuMemory& mem,
                             Footprint* out);

// Sorts `ranges` and merges overlapping ones of the same access.
void MergeRanges(std::vector<GpuAccess>* ranges);

}  // namespace faultlab::gpu

#endif  // FAULTLAB_ENGINE_GPU_WORK_H_
