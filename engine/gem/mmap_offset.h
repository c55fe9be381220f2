// MmapOffsets: models the device's drm_vma_offset_manager — fake mmap offsets
// in [DRM_FILE_PAGE_OFFSET_START, + DRM_FILE_PAGE_OFFSET_SIZE) pages, allocated
// best-fit (drm_mm's DRM_MM_INSERT_BEST: the smallest hole that fits, lowest
// address among equals).
#ifndef FAULTLAB_ENGINE_GEM_MMAP_OFFSET_H_
#define FAULTLAB_ENGINE_GEM_MMAP_OFFSET_H_

#include <cstdint>
#include <map>

namespace faultlab::gem {

// drm_gem.c, 64-bit: START = (0xFFFFFFFF >> PAGE_SHIFT) + 1, SIZE = (0xFFFFFFFF >> PAGE_SHIFT) *
// 256.
constexpr uint64_t kFilePageOffsetStart = (0xFFFFFFFFULL >> 12) + 1;
constexpr uint64_t kFilePageOffsetSize = (0xFFFFFFFFULL >> 12) * 256;

class MmapOffsets {
 public:
  // First page of a new range of `npages`, or 0 when the space is full (-ENOSPC).
  uint64_t Add(uint64_t npages, uint64_t owner);
  void Remove(uint64_t pgoff);
  // The owner of the node containing [pgoff, pgoff + npages), or 0
  // (drm_vma_offset_lookup_locked()).
  uint64_t Lookup(uint64_t pgoff, uint64_t npages) const;

 private:
  struct Node {
    uint64_t npages;
    uint64_t owner;
  };
  std::map<uint64_t, Node> nodes_;  // by first page
};

}  // namespace faultlab::gem

#endif  // FAULTLAB_ENGINE_GEM_MMAP_OFFSET_H_
