// GEM buffer objects (panthor_drv.c, panthor_gem.c with the series):
// BO_CREATE, BO_MMAP_OFFSET, BO_SET_LABEL (1.4), BO_SYNC and BO_QUERY_INFO
// (1.7), and CPU mappings of a BO's fake offset.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/base/bits.h"
#include "engine/dev/device.h"
#include "engine/dev/uobj.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT: the ABI's names read best unqualified here

// Models panthor_ioctl_bo_create() — as the seed patches it on the series'
// variants, as 1.7 has it on mainline — then panthor_gem_create_with_handle()
// -> drm_gem_shmem_create() (size rounded up to pages; no pages allocated)
// -> drm_gem_handle_create().
int Device::IoctlBoCreate(File& f, void* data) {
  auto* a = static_cast<PanthorBoCreate*>(data);
  // PANTHOR_BO_FLAGS = NO_MMAP | ALLOC_ON_FAULT on the series (the pad
  // became the granularity); NO_MMAP | WB_MMAP on 1.7, the pad still one, and
  // a write-back cached map of a BO that cannot be mapped is refused.
  if (a->size == 0 || (a->flags & ~(kPanthorBoNoMmap | kPanthorBoAllocOnFault))) return -kEINVAL;
  const uint32_t gran = a->alloc_on_fault_granularity;
  if (!HasAllocOnFault(config_.variant)) {
    if (gran) return -kEINVAL;
    if ((a->flags & kPanthorBoNoMmap) && (a->flags & kPanthorBoWbMmap)) return -kEINVAL;
  } else if (a->flags & kPanthorBoAllocOnFault) {
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
  if (!bo) return -kENOMEM;  // the twin's content arena is used up (content.h)
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

// Models panthor_ioctl_bo_set_label() (1.4): the label is read with
// strndup_user(label, PANTHOR_BO_LABEL_MAXLEN) — -EFAULT where unreadable
// before its NUL, -EINVAL (reported as -E2BIG) for no NUL within 4096 bytes
// — and replaces the old one; a NULL label clears it.
int Device::IoctlBoSetLabel(File& f, void* data) {
  auto* a = static_cast<PanthorBoSetLabel*>(data);
  if (a->pad) return -kEINVAL;
  auto it = f.handles_.find(a->handle);
  if (it == f.handles_.end()) return -kENOENT;
  std::string label;
  if (a->label) {
    // strnlen_user(): a page at a time, so that unreadable memory past the
    // NUL does not matter.
    bool terminated = false;
    for (uint64_t at = a->label; !terminated && label.size() < kPanthorBoMaxLabelSize;) {
      const uint64_t page_end = (at | (kPageSize - 1)) + 1;
      const uint64_t n = std::min<uint64_t>(page_end - at, kPanthorBoMaxLabelSize - label.size());
      char buf[kPageSize];
      if (f.umem_->CopyFromUser(buf, at, n) != 0) return -kEFAULT;
      const char* nul = static_cast<const char*>(std::memchr(buf, 0, n));
      label.append(buf, nul ? nul - buf : n);
      terminated = nul != nullptr;
      at += n;
    }
    if (!terminated) return -kE2BIG;
  }
  it->second->set_label(std::move(label));
  return 0;
}

// Models panthor_ioctl_bo_sync() (1.7) -> panthor_gem_sync() ->
// drm_gem_shmem_sync(): an empty array does nothing; each op's handle
// (-ENOENT), type (-EINVAL) and range (-EINVAL on overflow or past the BO)
// are checked as it comes, the ops before a failing one done. The twin's
// CPU and GPU see one copy of the bytes: a cache operation moves nothing,
// but it needs the BO's pages (drm_gem_shmem_get_pages_sgt()).
int Device::IoctlBoSync(File& f, void* data) {
  auto* a = static_cast<PanthorBoSync*>(data);
  if (a->ops.count == 0) return 0;
  std::vector<PanthorBoSyncOp> ops;
  if (int ret = GetUobjArray(*f.umem_, a->ops, sizeof(PanthorBoSyncOp), &ops); ret) return ret;
  for (const PanthorBoSyncOp& op : ops) {
    auto it = f.handles_.find(op.handle);
    if (it == f.handles_.end()) return -kENOENT;
    gem::Bo& bo = *it->second;
    if (op.type != kPanthorBoSyncCpuCacheFlush &&
        op.type != kPanthorBoSyncCpuCacheFlushAndInvalidate) {
      return -kEINVAL;
    }
    if (op.offset + op.size < op.offset || op.offset + op.size > bo.size_bytes()) return -kEINVAL;
    if (op.size == 0) continue;
    uint64_t allocated;
    if (int ret = bo.GetPages(mem::AllocClass::kBlocking, &allocated); ret) return ret;
  }
  return 0;
}

// Models panthor_ioctl_bo_query_info() (1.7): the flags the BO was created
// with; nothing is imported into the twin yet.
int Device::IoctlBoQueryInfo(File& f, void* data) {
  auto* a = static_cast<PanthorBoQueryInfo*>(data);
  auto it = f.handles_.find(a->handle);
  if (it == f.handles_.end()) return -kENOENT;
  a->pad = 0;
  a->create_flags = it->second->flags();
  a->extra_flags = 0;
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
  bo->NoteCpuMapped();
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
