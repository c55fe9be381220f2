// The file's user MMIO region (panthor_drv.c, panthor_device.c; driver
// 1.5): SET_USER_MMIO_OFFSET and CPU maps of the LATEST_FLUSH_ID page.
#include "engine/dev/device.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT: the ABI's names read best unqualified here

// Models panthor_ioctl_set_user_mmio_offset(): exactly one of the two
// offsets (a 32-bit task may pick the 64-bit one and hurt only itself).
int Device::IoctlSetUserMmioOffset(File& f, void* data) {
  auto* a = static_cast<PanthorSetUserMmioOffset*>(data);
  if (a->offset != kPanthorUserMmioOffset32 && a->offset != kPanthorUserMmioOffset64) {
    return -kEINVAL;
  }
  f.user_mmio_offset_ = a->offset;
  return 0;
}

// Models panthor_mmap() -> panthor_device_mmap_io(): the offset relative to
// the file's region must be DRM_PANTHOR_USER_FLUSH_ID_MMIO_OFFSET (0), the
// mapping shared, one page, without PROT_WRITE or PROT_EXEC.
int Device::MmapUserMmio(File* file, uint64_t offset, uint64_t length, bool shared, bool writable,
                         bool executable) {
  if (unplugged_) return -kENODEV;
  if (!shared) return -kEINVAL;
  if (offset != file->user_mmio_offset_) return -kEINVAL;
  if (length != kPageSize || writable || executable) return -kEINVAL;
  return 0;
}

}  // namespace faultlab::dev
