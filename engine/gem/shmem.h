// ShmemPages: the shmem file behind a GEM object — page index -> frame, each
// page allocated on first use (models shmem_read_mapping_page_gfp()). With
// thp=within_size a first touch allocates the whole 2 MiB folio when it lies
// within the object (shmem_is_huge(), SHMEM_HUGE_WITHIN_SIZE), falling back to
// a single page when no huge frame can be had. Pages stay until the object is
// freed (grow-only, as the series' sparse backing).
#ifndef FAULTLAB_ENGINE_GEM_SHMEM_H_
#define FAULTLAB_ENGINE_GEM_SHMEM_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>

#include "engine/mem/memory.h"

namespace faultlab::gem {

constexpr uint32_t kNoFrame = 0xffffffffu;

class ShmemPages {
 public:
  ShmemPages(mem::MemoryModel* mem, uint64_t npages) : mem_(mem), npages_(npages) {}
  ~ShmemPages();
  ShmemPages(const ShmemPages&) = delete;
  ShmemPages& operator=(const ShmemPages&) = delete;

  // The frame of page `idx`, allocating it (or its huge folio) with `cls` if
  // absent. Returns false when allocation failed. `*allocated` counts the
  // frames this call took (0, 1 or 512).
  bool Get(uint64_t idx, mem::AllocClass cls, uint32_t* frame, uint32_t* allocated);
  // Get() of pages [idx, idx + n) in order, with the same frames and the same
  // failure point, missing pages of a leaf taken in one AllocPages call.
  // `*allocated` adds the frames taken; false when an allocation failed.
  bool GetRange(uint64_t idx, uint64_t n, mem::AllocClass cls, uint64_t* allocated);
  // The frame of page `idx` or kNoFrame.
  uint32_t FrameOf(uint64_t idx) const;
  // True if [idx, idx+512) is one 2 MiB-contiguous, 2 MiB-aligned folio.
  bool IsHuge(uint64_t idx) const;
  // How many pages from `idx` (at most `max`, at least 1) have physically
  // consecutive frames; a missing page is a run of its own.
  uint64_t ContiguousRun(uint64_t idx, uint64_t max) const;

  uint64_t npages() const { return npages_; }
  uint64_t populated() const { return populated_; }

 private:
  struct Leaf {
    std::array<uint32_t, mem::kPagesPerHuge> frames;
    uint32_t count = 0;  // frames present
    bool huge = false;
    Leaf() { frames.fill(kNoFrame); }
  };

  mem::MemoryModel* mem_;
  uint64_t npages_;
  uint64_t populated_ = 0;
  std::map<uint64_t, std::unique_ptr<Leaf>> leaves_;  // by idx / 512
  // The leaf last looked at (runs of pages share one; leaves are never
  // freed before the object): a map lookup saved per page.
  mutable uint64_t last_key_ = ~uint64_t{0};
  mutable Leaf* last_leaf_ = nullptr;
  Leaf* Find(uint64_t key) const;
  Leaf* FindOrAdd(uint64_t key);
};

}  // namespace faultlab::gem

#endif  // FAULTLAB_ENGINE_GEM_SHMEM_H_
