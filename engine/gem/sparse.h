// SparseBacking: models struct drm_gem_shmem_sparse_backing (series v3 2/8,
// spec 1.3) — the granule index of an alloc-on-fault BO.
//
// Population is grow-only and works on granule-aligned ranges: pages come from
// the object's shmem file (allocated with the caller's page class), the
// xarray nodes that index them and the sgt entries that cover runs of newly
// populated granules are metadata allocated with the caller's "other" class.
// Granules that already have an sgt entry are skipped; one entry covers each
// run of consecutive unpopulated granules. pin/get only count: they never
// populate.
#ifndef FAULTLAB_ENGINE_GEM_SPARSE_H_
#define FAULTLAB_ENGINE_GEM_SPARSE_H_

#include <cstdint>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "engine/gem/shmem.h"
#include "engine/mem/memory.h"

namespace faultlab::gem {

// What one population call cost (reported with faults and heap growth).
struct PopulateStats {
  uint32_t pages = 0;        // frames newly allocated for data
  uint32_t metadata = 0;     // metadata allocations (xarray nodes, sgt entries)
  uint32_t sgt_entries = 0;  // sgt entries created
  // Which allocation failed, when the call returned -ENOMEM.
  bool page_failed = false;
  bool metadata_failed = false;
};

class SparseBacking {
 public:
  // Models drm_gem_shmem_sparse_init(): `granularity_pages` must be a power of
  // two (the caller has checked; the seed ignores the return value).
  SparseBacking(mem::MemoryModel* mem, uint32_t granularity_pages);
  ~SparseBacking();  // drm_gem_shmem_sparse_finish(): frees the metadata
  SparseBacking(const SparseBacking&) = delete;
  SparseBacking& operator=(const SparseBacking&) = delete;

  // Models drm_gem_shmem_sparse_populate_range(): 0, -EINVAL (misaligned,
  // beyond the object, overflow) or -ENOMEM (pages populated before the
  // failure stay).
  int PopulateRange(ShmemPages& pages, uint64_t offset, uint64_t npages, mem::AllocClass page_cls,
                    mem::AllocClass other_cls, PopulateStats* stats);

  // Models drm_gem_shmem_sparse_get_sgt(): -EINVAL if `gem_pgoffset` is not
  // granule-aligned, -ENOENT if its granule is not populated; else 0 with the
  // offset inside the covering entry and the pages left in it.
  int GetSgt(uint64_t gem_pgoffset, uint64_t* sgt_pgoffset, uint64_t* remaining_pages) const;

  // True if granule `g` has an sgt entry.
  bool GranulePopulated(uint64_t g) const;

  void Pin() { ++pin_count_, ++use_count_; }
  void Unpin() { --pin_count_, --use_count_; }
  uint32_t pin_count() const { return pin_count_; }
  uint32_t use_count() const { return use_count_; }
  uint32_t granularity_pages() const { return granularity_pages_; }
  uint64_t populated_granules() const { return populated_granules_; }
  uint64_t sgt_entries() const { return sgts_.size(); }

  // sizeof(struct xa_node) and the sgt entry costs on a 64-bit kernel.
  static constexpr uint64_t kXaNodeBytes = 576;
  static constexpr uint64_t kSgtEntryBytes = 48;
  static constexpr uint64_t kScatterlistBytes = 32;

 private:
  struct SgtEntry {
    uint64_t gem_pgoffset;
    uint64_t npages;
    uint64_t metadata_bytes;
  };
  using SgtMap = absl::btree_map<uint64_t, SgtEntry>;  // by first granule index
  // True when the leaf-level xarray node page `idx` goes in exists.
  bool LeafNodeStored(uint64_t idx);
  // Allocates the xarray nodes storing page `idx` needs, if not there yet.
  bool StorePage(uint64_t idx, mem::AllocClass cls, PopulateStats* stats);
  void AddNode(uint32_t level, uint64_t index);
  // Records the entry for [first_page, +npages), which goes before `hint`.
  bool AddSgt(const ShmemPages& pages, uint64_t first_page, uint64_t npages, mem::AllocClass cls,
              SgtMap::iterator hint, PopulateStats* stats);

  mem::MemoryModel* mem_;
  uint32_t granularity_pages_;
  uint32_t granule_shift_;
  uint32_t pin_count_ = 0;
  uint32_t use_count_ = 0;
  SgtMap sgts_;
  SgtEntry last_added_{0, 0, 0};        // the newest entry (npages 0: none yet)
  absl::btree_set<uint64_t> xa_nodes_;  // level << 56 | index >> shift
  // The leaf level's nodes as a bitmap (a bit per 64 pages) for objects up
  // to 64 GiB — 32 KiB at most, where a B-tree lookup was a tenth of
  // population; larger objects keep them in xa_nodes_ too.
  static constexpr uint64_t kLeafBitmapMaxPages = uint64_t{1} << 24;
  std::vector<uint64_t> leaf_nodes_;
  uint64_t last_leaf_node_ = ~uint64_t{0};  // a leaf-level node known to exist (never freed)
  uint64_t metadata_bytes_ = 0;
  uint64_t populated_granules_ = 0;
};

}  // namespace faultlab::gem

#endif  // FAULTLAB_ENGINE_GEM_SPARSE_H_
