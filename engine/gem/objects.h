// Objects: the device's GEM objects (struct drm_device's GEM bookkeeping):
// BO ids in creation order, every live BO a handle can name, and the fake
// mmap offset space CPU mappings go through.
//
//   Objects objects(&memory);
//   std::shared_ptr<Bo> bo = objects.Create(size, flags, granularity, 0);
//   objects.CreateMmapOffset(*bo);            // BO_MMAP_OFFSET
//   objects.AtOffset(bo->mmap_pgoff(), 1);    // mmap() finds it again
//
// A BO stays listed while anything holds it (a handle, a VMA, a job); its
// last reference frees its pages and its offset. Objects must outlive every
// BO it created.
#ifndef FAULTLAB_ENGINE_GEM_OBJECTS_H_
#define FAULTLAB_ENGINE_GEM_OBJECTS_H_

#include <cstdint>
#include <map>
#include <memory>

#include "engine/gem/bo.h"
#include "engine/gem/content.h"
#include "engine/gem/mmap_offset.h"
#include "engine/mem/memory.h"

namespace faultlab::gem {

struct ObjectStats {
  uint64_t created = 0;
  uint64_t freed = 0;
  // Bytes of live alloc-on-fault BOs (what is promised, not what is backed),
  // now and at their peak: the numerator of the report's overcommit ratio.
  uint64_t aof_bytes_live = 0;
  uint64_t aof_bytes_peak = 0;
};

class Objects {
 public:
  explicit Objects(mem::MemoryModel* mem) : mem_(mem) {}
  Objects(const Objects&) = delete;
  Objects& operator=(const Objects&) = delete;

  // Models drm_gem_shmem_create() for a user BO: `size_bytes` page-aligned,
  // no pages yet, its bytes a range of the content arena; listed until its
  // last reference goes. nullptr when the arena has no room left (-ENOMEM).
  std::shared_ptr<Bo> Create(uint64_t size_bytes, uint32_t flags, uint32_t granularity_bytes,
                             uint64_t exclusive_vm);
  // A BO the driver makes for itself (panthor_kernel_bo_create(): tiler
  // heaps): an id from the same sequence, never listed, never mapped by the
  // CPU (its bytes private).
  std::shared_ptr<Bo> CreateKernel(uint64_t size_bytes, uint32_t flags, uint32_t granularity_bytes,
                                   uint64_t exclusive_vm);

  // Where every user BO's bytes live (CPU mappings map its file).
  const ContentArena& content() const { return content_; }

  // Models drm_gem_create_mmap_offset(): one node per object, made on first
  // request. 0 or -ENOSPC.
  int CreateMmapOffset(Bo& bo);
  // The listed BO whose offset node holds [pgoff, pgoff + npages), or nullptr.
  std::shared_ptr<Bo> AtOffset(uint64_t pgoff, uint64_t npages) const;
  // The listed BO with that id, or nullptr.
  std::shared_ptr<Bo> Find(uint64_t id) const;

  // Every listed BO by id, ascending (hashes and checks walk them in order).
  const std::map<uint64_t, std::weak_ptr<Bo>>& all() const { return bos_; }
  const ObjectStats& stats() const { return stats_; }

 private:
  void Freed(Bo* bo);

  mem::MemoryModel* const mem_;
  ContentArena content_;
  MmapOffsets mmap_offsets_;
  std::map<uint64_t, std::weak_ptr<Bo>> bos_;  // listed BOs by id
  uint64_t next_id_ = 1;                       // ids of every BO, listed or not
  ObjectStats stats_;
};

}  // namespace faultlab::gem

#endif  // FAULTLAB_ENGINE_GEM_OBJECTS_H_
