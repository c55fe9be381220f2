// TwinHost's descriptors: what SYNCOBJ_HANDLE_TO_FD and PRIME_HANDLE_TO_FD
// make in the host process, sync_files' readiness, and the calls a program
// makes on a descriptor (ioctl, lseek). twin_host.h says what each does.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

#include "agents/twin/twin_host.h"
#include "engine/uapi/drm.h"

namespace faultlab::twin {

using uapi::IoctlId;

int TwinHost::MakeExport(IoctlId id, dev::File* file, UserMemory& mem, uint32_t request,
                         uint64_t arg, int* exported) {
  if (exported) *exported = -1;
  // drm_syncobj_handle and drm_prime_handle: flags at 4.
  uint32_t flags = 0;
  const bool readable = mem.CopyFromUser(&flags, arg + 4, sizeof(flags)) == 0;
  const bool sync_file = id == IoctlId::kSyncobjHandleToFd && readable &&
                         (flags & uapi::kDrmSyncobjHandleToFdExportSyncFile);
  // O_CLOEXEC as the kernel's, but a dma-buf without DRM_CLOEXEC.
  const bool cloexec = id != IoctlId::kPrimeHandleToFd || (flags & uapi::kDrmCloexec);
  const int fd =
      sync_file ? eventfd(0, EFD_CLOEXEC) : open("/dev/null", O_RDWR | (cloexec ? O_CLOEXEC : 0));
  if (fd < 0) return -errno;
  device_.ReserveExportFd(fd);
  const int ret = device_.Ioctl(file, request, arg);
  device_.ReserveExportFd(-1);
  if (ret != 0 || device_.FindExport(fd) == nullptr) {
    close(fd);
    return ret;
  }
  if (sync_file) sync_files_[fd] = fd;
  if (exported) *exported = fd;
  return ret;
}

void TwinHost::CloseExport(int32_t key) {
  sync_files_.erase(key);
  device_.CloseExport(key);
}

void TwinHost::WatchSyncFile(int32_t key, int fd) {
  auto it = sync_files_.find(key);
  if (it != sync_files_.end()) it->second = fd;
}

void TwinHost::SignalSyncFiles() {
  for (auto it = sync_files_.begin(); it != sync_files_.end();) {
    const dev::Device::Exported* e = device_.FindExport(it->first);
    if (e && dev::Device::SyncFileStatus(*e) == 0) {
      ++it;
      continue;
    }
    const uint64_t one = 1;
    (void)!write(it->second, &one, sizeof(one));
    it = sync_files_.erase(it);
  }
}

namespace {

// sync_file's SYNC_IOC_FILE_INFO (linux/sync_file.h).
struct SyncFenceInfo {
  char obj_name[32];
  char driver_name[32];
  int32_t status;
  uint32_t flags;
  uint64_t timestamp_ns;
};
struct SyncFileInfo {
  char name[32];
  int32_t status;
  uint32_t flags;
  uint32_t num_fences;
  uint32_t pad;
  uint64_t sync_fence_info;
};
constexpr unsigned long kSyncIocFileInfo = 0xc0383e04;  // _IOWR('>', 4, struct sync_file_info)
constexpr unsigned long kDmaBufIoctlSync = 0x40086200;  // _IOW('b', 0, struct dma_buf_sync)
constexpr uint64_t kDmaBufSyncRw = 3, kDmaBufSyncValid = 7;

}  // namespace

int TwinHost::ExportIoctl(int32_t key, unsigned long request, uint64_t arg, UserMemory& mem) {
  const dev::Device::Exported* e = device_.FindExport(key);
  if (e == nullptr) return -EBADF;
  if (e->kind == dev::Device::Exported::Kind::kSyncFile && request == kSyncIocFileInfo) {
    // sync_file_ioctl_fence_info(): one fence here.
    SyncFileInfo info;
    if (mem.CopyFromUser(&info, arg, sizeof(info)) != 0) return -EFAULT;
    if (info.flags || info.pad) return -EINVAL;
    const int status = dev::Device::SyncFileStatus(*e);
    if (info.num_fences) {
      SyncFenceInfo fi{};
      snprintf(fi.obj_name, sizeof(fi.obj_name), "panthor-queue");
      snprintf(fi.driver_name, sizeof(fi.driver_name), "drm_sched");
      fi.status = status;
      if (mem.CopyToUser(info.sync_fence_info, &fi, sizeof(fi)) != 0) return -EFAULT;
    }
    memset(info.name, 0, sizeof(info.name));
    snprintf(info.name, sizeof(info.name), "panthor");
    info.status = status;
    info.num_fences = 1;
    return mem.CopyToUser(arg, &info, sizeof(info)) != 0 ? -EFAULT : 0;
  }
  if (e->kind == dev::Device::Exported::Kind::kDmaBuf && request == kDmaBufIoctlSync) {
    // dma_buf_ioctl(): the start or end of CPU access, read and/or write.
    // One copy of the bytes: nothing to flush.
    uint64_t flags;
    if (mem.CopyFromUser(&flags, arg, sizeof(flags)) != 0) return -EFAULT;
    if ((flags & ~kDmaBufSyncValid) || !(flags & kDmaBufSyncRw)) return -EINVAL;
    return 0;
  }
  return -ENOTTY;
}

int64_t TwinHost::ExportSeek(int32_t key, int64_t offset, int whence) {
  const dev::Device::Exported* e = device_.FindExport(key);
  if (e == nullptr || e->kind != dev::Device::Exported::Kind::kDmaBuf) return -ESPIPE;
  if (offset != 0) return -EINVAL;
  if (whence == SEEK_END) return static_cast<int64_t>(e->bo->size_bytes());
  return whence == SEEK_SET ? 0 : -EINVAL;
}

}  // namespace faultlab::twin
