// Descriptors the device hands out and takes back (drm_syncobj.c,
// drm_prime.c, sync_file.c): a syncobj's own fd, a sync_file of one of its
// fences, a dma-buf of a BO. Each is a number of the program's descriptor
// table (device.h "Descriptors"); the objects behind it live as long as the
// descriptor or a handle does.
#include "engine/dev/device.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT: the ABI's names read best unqualified here

int32_t Device::Export(Exported e) {
  int32_t fd = reserved_fd_;
  reserved_fd_ = -1;
  if (fd < 0) {
    while (exports_.count(next_own_fd_)) ++next_own_fd_;
    fd = next_own_fd_++;
  }
  exports_[fd] = std::move(e);  // a reused number: the old descriptor was closed
  return fd;
}

const Device::Exported* Device::FindExport(int32_t fd) const {
  auto it = exports_.find(fd);
  return it == exports_.end() ? nullptr : &it->second;
}

void Device::CloseExport(int32_t fd) {
  if (!exports_.erase(fd)) return;
  trace::Event e;
  e.kind = trace::EVENT_FILE;
  e.file_op.file = static_cast<uint32_t>(fd);
  e.file_op.node = trace::NODE_EXPORT;
  e.file_op.close = true;
  out_.Emit(e);
}

int Device::SyncFileStatus(const Exported& e) {
  if (!e.fence || !e.fence->signalled) return 0;
  return e.fence->error < 0 ? e.fence->error : 1;  // dma_fence_get_status()
}

// Models drm_syncobj_handle_to_fd_ioctl() (Linux 6.6+, with the 2026 fix:
// `point` counts only with the TIMELINE flag): a sync_file of the fence at
// the point (-ENOENT: no such syncobj; -EINVAL: no fence there), or the
// syncobj's own fd (-EINVAL: no such syncobj, or a point asked for).
int Device::IoctlSyncobjHandleToFd(File& f, void* data) {
  auto* a = static_cast<DrmSyncobjHandle*>(data);
  if (a->pad) return -kEINVAL;
  if (a->flags & ~(kDrmSyncobjHandleToFdExportSyncFile | kDrmSyncobjHandleToFdTimeline))
    return -kEINVAL;
  const uint64_t point = a->flags & kDrmSyncobjHandleToFdTimeline ? a->point : 0;
  auto it = f.syncobjs_.find(a->handle);
  if (a->flags & kDrmSyncobjHandleToFdExportSyncFile) {
    // drm_syncobj_export_sync_file() -> drm_syncobj_find_fence().
    if (it == f.syncobjs_.end()) return -kENOENT;
    std::shared_ptr<sync::Fence> fence = it->second->FenceForPoint(point);
    if (!fence) return -kEINVAL;
    a->fd = Export({Exported::Kind::kSyncFile, nullptr, std::move(fence), nullptr});
    return 0;
  }
  if (point) return -kEINVAL;
  if (it == f.syncobjs_.end()) return -kEINVAL;  // drm_syncobj_handle_to_fd()
  a->fd = Export({Exported::Kind::kSyncobj, it->second, nullptr, nullptr});
  return 0;
}

// Models drm_syncobj_fd_to_handle_ioctl(): a sync_file's fence into an
// existing syncobj (replacing its fence, or as a timeline point), or a
// syncobj fd as a new handle of this file. A descriptor that is not what
// the call needs (or not the device's) is -EINVAL.
int Device::IoctlSyncobjFdToHandle(File& f, void* data) {
  auto* a = static_cast<DrmSyncobjHandle*>(data);
  if (a->pad) return -kEINVAL;
  if (a->flags & ~(kDrmSyncobjFdToHandleImportSyncFile | kDrmSyncobjFdToHandleTimeline))
    return -kEINVAL;
  const uint64_t point = a->flags & kDrmSyncobjFdToHandleTimeline ? a->point : 0;
  const Exported* e = FindExport(a->fd);
  if (a->flags & kDrmSyncobjFdToHandleImportSyncFile) {
    // drm_syncobj_import_sync_file_fence(): sync_file_get_fence(), then the syncobj.
    if (e == nullptr || e->kind != Exported::Kind::kSyncFile) return -kEINVAL;
    auto it = f.syncobjs_.find(a->handle);
    if (it == f.syncobjs_.end()) return -kENOENT;
    if (point) {
      it->second->AddPoint(point, e->fence);
    } else {
      it->second->ReplaceFence(e->fence);
    }
    return 0;
  }
  if (point) return -kEINVAL;
  if (e == nullptr || e->kind != Exported::Kind::kSyncobj) return -kEINVAL;
  const uint32_t h = File::LowestFreeId(f.syncobjs_);  // idr_alloc(..., 1, 0)
  f.syncobjs_[h] = e->syncobj;
  a->handle = h;
  return 0;
}

// Models drm_prime_handle_to_fd_ioctl() -> drm_gem_prime_handle_to_fd():
// only DRM_CLOEXEC and DRM_RDWR; -ENOENT for an unknown handle; panthor
// refuses a BO private to a VM (panthor_gem_prime_export(): -EINVAL).
int Device::IoctlPrimeHandleToFd(File& f, void* data) {
  auto* a = static_cast<DrmPrimeHandle*>(data);
  if (a->flags & ~(kDrmCloexec | kDrmRdwr)) return -kEINVAL;
  auto it = f.handles_.find(a->handle);
  if (it == f.handles_.end()) return -kENOENT;
  if (it->second->exclusive_vm()) return -kEINVAL;
  a->fd = Export({Exported::Kind::kDmaBuf, nullptr, nullptr, it->second});
  return 0;
}

// Models drm_prime_fd_to_handle_ioctl() -> drm_gem_prime_fd_to_handle(): a
// dma-buf of this device is its own BO again — the handle this file already
// has for it (drm_prime_lookup_buf_handle()), or a new one. Anything else
// is -EINVAL (a kernel says -EBADF for a number that is no descriptor).
int Device::IoctlPrimeFdToHandle(File& f, void* data) {
  auto* a = static_cast<DrmPrimeHandle*>(data);
  const Exported* e = FindExport(a->fd);
  if (e == nullptr || e->kind != Exported::Kind::kDmaBuf) return -kEINVAL;
  for (const auto& [h, bo] : f.handles_) {
    if (bo == e->bo) {
      a->handle = h;
      return 0;
    }
  }
  const uint32_t h = File::LowestFreeId(f.handles_);
  f.handles_[h] = e->bo;
  a->handle = h;
  return 0;
}

// dma_buf_mmap() -> panthor_gem_mmap(): within the BO, shared, and not a
// NO_MMAP BO; the pages are populated as drm_gem_shmem_mmap() does.
int Device::MmapExport(int32_t fd, uint64_t offset, uint64_t length, bool shared) {
  const Exported* e = FindExport(fd);
  if (e == nullptr || e->kind != Exported::Kind::kDmaBuf) return -kENODEV;
  const std::shared_ptr<gem::Bo>& bo = e->bo;
  const uint64_t npages = (length + kPageSize - 1) / kPageSize;
  if (offset % kPageSize || npages == 0 || offset > bo->size_bytes() ||
      npages > (bo->size_bytes() - offset) / kPageSize) {
    return -kEINVAL;
  }
  if (!shared || (bo->flags() & kPanthorBoNoMmap)) return -kEINVAL;
  // drm_gem_prime_mmap(): the object gets its fake offset (by which the
  // CPU's writes through the map are recorded).
  if (int ret = objects_.CreateMmapOffset(*bo); ret) return ret;
  uint64_t populated = 0;
  const int ret = bo->GetPages(mem::AllocClass::kBlocking, &populated);
  bo->NoteCpuMapped();
  trace::Event ev;
  ev.kind = trace::EVENT_CPU_MAP;
  ev.cpu_map = {0,     static_cast<uint32_t>(fd),       offset, length, ret,
                false, static_cast<uint32_t>(populated)};
  out_.Emit(ev);
  return ret;
}

}  // namespace faultlab::dev
