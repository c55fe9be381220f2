#include "engine/gem/objects.h"

#include <algorithm>

#include "engine/uapi/errno.h"

namespace faultlab::gem {

std::shared_ptr<Bo> Objects::Create(uint64_t size_bytes, uint32_t flags, uint32_t granularity_bytes,
                                    uint64_t exclusive_vm) {
  const uint64_t content_at = content_.Reserve(size_bytes);
  if (content_at == ContentArena::kNone) return nullptr;
  const uint64_t id = next_id_++;
  // drm_gem_object_free() -> panthor_gem_free_object(): sparse finish, mmap
  // offset freed, pages released.
  std::shared_ptr<Bo> bo(
      new Bo(mem_, id, size_bytes, flags, granularity_bytes, exclusive_vm, &content_, content_at),
      [this](Bo* b) {
        Freed(b);
        delete b;
      });
  bos_[id] = bo;
  ++stats_.created;
  if (bo->alloc_on_fault()) {
    stats_.aof_bytes_live += size_bytes;
    stats_.aof_bytes_peak = std::max(stats_.aof_bytes_peak, stats_.aof_bytes_live);
  }
  return bo;
}

std::shared_ptr<Bo> Objects::CreateKernel(uint64_t size_bytes, uint32_t flags,
                                          uint32_t granularity_bytes, uint64_t exclusive_vm) {
  return std::make_shared<Bo>(mem_, next_id_++, size_bytes, flags, granularity_bytes, exclusive_vm);
}

void Objects::Freed(Bo* b) {
  if (b->mmap_pgoff()) mmap_offsets_.Remove(b->mmap_pgoff());
  bos_.erase(b->id());
  ++stats_.freed;
  if (b->alloc_on_fault()) stats_.aof_bytes_live -= b->size_bytes();
}

int Objects::CreateMmapOffset(Bo& bo) {
  if (bo.mmap_pgoff() != 0) return 0;
  const uint64_t pgoff = mmap_offsets_.Add(bo.npages(), bo.id());
  if (pgoff == 0) return -uapi::kENOSPC;
  bo.set_mmap_pgoff(pgoff);
  return 0;
}

std::shared_ptr<Bo> Objects::AtOffset(uint64_t pgoff, uint64_t npages) const {
  const uint64_t id = mmap_offsets_.Lookup(pgoff, npages);
  return id == 0 ? nullptr : Find(id);
}

std::shared_ptr<Bo> Objects::Find(uint64_t id) const {
  auto it = bos_.find(id);
  return it == bos_.end() ? nullptr : it->second.lock();
}

}  // namespace faultlab::gem
