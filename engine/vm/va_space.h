// VaSpace: a GPU VA space with drm_gpuvm's split/merge semantics (spec 4,
// drm_gpuvm.c "Split and Merge").
//
// SmMapOps() and SmUnmapOps() produce the kernel's operation lists
// (__drm_gpuvm_sm_map / __drm_gpuvm_sm_unmap): a map request yields unmaps,
// at most two remaps (prev/next) and exactly one map; an unmap yields remaps
// and unmaps. Adjacent mappings are never coalesced: `keep` is only the hint
// that the pages of the unmapped VA may stay. The caller executes the ops in
// order (panthor's sm_step_* callbacks), editing the tree with Insert/Remove.
#ifndef FAULTLAB_ENGINE_VM_VA_SPACE_H_
#define FAULTLAB_ENGINE_VM_VA_SPACE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/gem/bo.h"

namespace faultlab::vm {

// A mapping: struct drm_gpuva + struct panthor_vma.
struct Vma {
  uint64_t addr = 0;
  uint64_t range = 0;
  std::shared_ptr<gem::Bo> bo;  // the GEM object (holds a reference)
  uint64_t bo_offset = 0;
  uint32_t flags = 0;  // DRM_PANTHOR_VM_BIND_OP_MAP_* flags
  uint64_t end() const { return addr + range; }
};

// struct drm_gpuva_op_map: where a (new or split-off) mapping goes.
struct OpMap {
  uint64_t addr = 0;
  uint64_t range = 0;
  const gem::Bo* obj = nullptr;
  uint64_t offset = 0;
  bool operator==(const OpMap& o) const {
    return addr == o.addr && range == o.range && obj == o.obj && offset == o.offset;
  }
};

struct GpuvaOp {
  enum Kind { kMap, kRemap, kUnmap } kind;
  OpMap map;              // kMap
  bool has_prev = false;  // kRemap
  bool has_next = false;
  OpMap prev, next;
  uint64_t va = 0;    // kRemap, kUnmap: the address of the existing VA
  bool keep = false;  // kRemap, kUnmap: the merge hint

  bool operator==(const GpuvaOp& o) const;
  std::string ToString() const;
};

class VaSpace {
 public:
  // The GPUVM covers [mm_start, mm_start + mm_range) (drm_gpuvm_init()).
  VaSpace(uint64_t mm_start, uint64_t mm_range) : mm_start_(mm_start), mm_range_(mm_range) {}

  // drm_gpuvm_range_valid(): no overflow and inside the managed range (panthor
  // reserves no kernel node).
  bool RangeValid(uint64_t addr, uint64_t range) const;

  std::vector<GpuvaOp> SmMapOps(uint64_t addr, uint64_t range, const gem::Bo* obj,
                                uint64_t offset) const;
  std::vector<GpuvaOp> SmUnmapOps(uint64_t addr, uint64_t range) const;

  void Insert(Vma vma);
  // Removes and returns the VA starting at `addr` (which must exist).
  Vma Remove(uint64_t addr);
  const Vma* Find(uint64_t addr) const;  // the VA starting at `addr`
  // drm_gpuva_find_first(): the first VA intersecting [addr, addr + range).
  const Vma* FindFirst(uint64_t addr, uint64_t range) const;

  const std::map<uint64_t, Vma>& vmas() const { return vmas_; }
  size_t size() const { return vmas_.size(); }

 private:
  // The VAs intersecting [addr, end), in address order.
  std::vector<const Vma*> Overlapping(uint64_t addr, uint64_t end) const;

  uint64_t mm_start_;
  uint64_t mm_range_;
  std::map<uint64_t, Vma> vmas_;  // by address; never overlapping
};

}  // namespace faultlab::vm

#endif  // FAULTLAB_ENGINE_VM_VA_SPACE_H_
