// GEM buffer objects (panthor_drv.c, panthor_gem.c with the series):
// BO_CREATE, BO_MMAP_OFFSET, and CPU mappings of a BO's fake offset.
#include <algorithm>

#include "engine/dev/device.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT: the ABI's names read best unqualified here

namespace {

bool IsPowerOf2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

}  // namespace

// Models panthor_ioctl_bo_create() as the seed patches it, then
// panthor_gem_create_with_handle() -> drm_gem_shmem_create() (size rounded
// up to pages; no pages allocated) -> drm_gem_handle_create().
int Device::IoctlBoCreate(File& f, void* data) {
  auto* a = static_cast<PanthorBoCreate*>(data);
  // PANTHOR_BO_FLAGS = NO_MMAP | ALLOC_ON_FAULT; the pad became the granularity.
  if (a->size == 0 || (a->flags & ~(kPanthorBoNoMmap | kPanthorBoAllocOnFault))) return -kEINVAL;
  const uint32_t gran = a->alloc_on_fault_granularity;
  if (a->flags & kPanthorBoAllocOnFault) {
    if (gran < kPageSize || !IsPowerOf2(gran)) return -kEINVAL;
    // The uAPI doc also says "<= size"; v3 does not check it (spec 1.4 (c), 7.1).
    if (config_.variant == Variant::kSeriesFixed && gran > a->size) return -kEINVAL;
  } else if (gran) {
    return -kEINVAL;
  }
  uint64_t exclusive = 0;
  if (a->exclusive_vm_id) {
    auto it = f.vms_.find(a->exclusive_vm_id);
    if (it == f.vms_.end()) return -kEINVAL;
    exclusive = it->second->key();
  }
  // shmem_file_setup() refuses sizes past MAX_LFS_FILESIZE; PAGE_ALIGN of the
  // last page's worth would wrap (approximated as the same -EINVAL).
  const uint64_t size = (a->size + kPageSize - 1) & ~(kPageSize - 1);
  if (a->size > 0x7fffffffffffffffULL || size == 0) return -kEINVAL;
  std::shared_ptr<gem::Bo> bo = objects_.Create(size, a->flags, gran, exclusive);
  // drm_gem_handle_create_tail(): idr_alloc(..., 1, 0) -> the lowest free id.
  const uint32_t handle = File::LowestFreeId(f.handles_);
  f.handles_[handle] = std::move(bo);
  a->size = size;
  a->handle = handle;
  return 0;
}

// Models panthor_ioctl_bo_mmap_offset().
int Device::IoctlBoMmapOffset(File& f, void* data) {
  auto* a = static_cast<PanthorBoMmapOffset*>(data);
  if (a->pad) return -kEINVAL;
  auto it = f.handles_.find(a->handle);
  if (it == f.handles_.end()) return -kENOENT;  // drm_gem_object_lookup() failed
  gem::Bo& bo = *it->second;
  if (bo.flags() & kPanthorBoNoMmap) return -kEPERM;
  if (int ret = objects_.CreateMmapOffset(bo); ret) return ret;
  a->offset = bo.mmap_pgoff() << kPageShift;
  return 0;
}

std::shared_ptr<gem::Bo> Device::BoAtOffset(File* file, uint64_t offset, uint64_t length) {
  if (offset % kPageSize) return nullptr;
  const uint64_t npages = (length + kPageSize - 1) / kPageSize;
  std::shared_ptr<gem::Bo> bo = objects_.AtOffset(offset >> kPageShift, npages);
  if (!bo) return nullptr;
  // drm_vma_node_is_allowed(): only files holding a handle may map it.
  for (const auto& [h, b] : file->handles_) {
    if (b == bo) return bo;
  }
  return nullptr;
}

// Models drm_gem_mmap() -> drm_gem_shmem_mmap().
int Device::MmapBo(File* file, uint64_t offset, uint64_t length, bool shared, uint64_t* populated) {
  *populated = 0;
  if (unplugged_) return -kENODEV;
  const uint64_t npages = (length + kPageSize - 1) / kPageSize;
  if (offset % kPageSize || npages == 0) return -kEINVAL;
  if (!objects_.AtOffset(offset >> kPageShift, npages)) return -kEINVAL;  // no such node
  std::shared_ptr<gem::Bo> bo = BoAtOffset(file, offset, length);
  if (!bo) return -kEACCES;
  // drm_gem_shmem_mmap(): a private writable mapping is refused (is_cow_mapping).
  if (!shared) return -kEINVAL;
  // drm_gem_shmem_get_pages(): the whole object, for a sparse one too.
  const int ret = bo->GetPages(mem::AllocClass::kBlocking, populated);
  trace::Event e;
  e.kind = trace::EVENT_CPU_MAP;
  e.cpu_map = {file->id_, 0, offset, length, ret, false, static_cast<uint32_t>(*populated)};
  for (const auto& [h, b] : file->handles_) {
    if (b == bo) e.cpu_map.handle = h;
  }
  out_.Emit(e);
  return ret;
}

}  // namespace faultlab::dev
