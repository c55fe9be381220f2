// DRM core ABI used by panthor clients (spec 7.3): ioctl numbers and struct
// layouts of include/uapi/drm/drm.h for a 64-bit process (LP64: size_t and
// user pointers are 8 bytes). Our own definitions, checked field by field
// against libdrm's drm.h in drm_abi_test.cc.
#ifndef FAULTLAB_ENGINE_UAPI_DRM_H_
#define FAULTLAB_ENGINE_UAPI_DRM_H_

#include <cstddef>
#include <cstdint>

#include "engine/uapi/ioc.h"

namespace faultlab::uapi {

struct DrmVersion {
  int32_t version_major;
  int32_t version_minor;
  int32_t version_patchlevel;
  uint32_t pad_;  // implicit padding before the size_t
  uint64_t name_len;
  uint64_t name;  // char __user *
  uint64_t date_len;
  uint64_t date;
  uint64_t desc_len;
  uint64_t desc;
};
static_assert(sizeof(DrmVersion) == 64);
static_assert(offsetof(DrmVersion, name_len) == 16);
static_assert(offsetof(DrmVersion, desc) == 56);

struct DrmUnique {
  uint64_t unique_len;
  uint64_t unique;  // char __user *
};
static_assert(sizeof(DrmUnique) == 16);

struct DrmSetVersion {
  int32_t drm_di_major;
  int32_t drm_di_minor;
  int32_t drm_dd_major;
  int32_t drm_dd_minor;
};
static_assert(sizeof(DrmSetVersion) == 16);

struct DrmGemClose {
  uint32_t handle;
  uint32_t pad;
};
static_assert(sizeof(DrmGemClose) == 8);

struct DrmGetCap {
  uint64_t capability;
  uint64_t value;
};
static_assert(sizeof(DrmGetCap) == 16);

struct DrmSetClientCap {
  uint64_t capability;
  uint64_t value;
};
static_assert(sizeof(DrmSetClientCap) == 16);

struct DrmPrimeHandle {
  uint32_t handle;
  uint32_t flags;
  int32_t fd;
};
static_assert(sizeof(DrmPrimeHandle) == 12);

struct DrmSyncobjCreate {
  uint32_t handle;
  uint32_t flags;
};
static_assert(sizeof(DrmSyncobjCreate) == 8);

struct DrmSyncobjDestroy {
  uint32_t handle;
  uint32_t pad;
};
static_assert(sizeof(DrmSyncobjDestroy) == 8);

// With `point` since Linux 6.6 (callers built before send 16 bytes: the
// tail is zero-filled).
struct DrmSyncobjHandle {
  uint32_t handle;
  uint32_t flags;
  int32_t fd;
  uint32_t pad;
  uint64_t point;
};
static_assert(sizeof(DrmSyncobjHandle) == 24);
constexpr uint32_t kDrmSyncobjHandleToFdExportSyncFile = 1u << 0;
constexpr uint32_t kDrmSyncobjHandleToFdTimeline = 1u << 1;
constexpr uint32_t kDrmSyncobjFdToHandleImportSyncFile = 1u << 0;
constexpr uint32_t kDrmSyncobjFdToHandleTimeline = 1u << 1;
// drm_prime_handle.flags: DRM_CLOEXEC (O_CLOEXEC) and DRM_RDWR (O_RDWR).
constexpr uint32_t kDrmCloexec = 02000000;
constexpr uint32_t kDrmRdwr = 02;

struct DrmSyncobjTransfer {
  uint32_t src_handle;
  uint32_t dst_handle;
  uint64_t src_point;
  uint64_t dst_point;
  uint32_t flags;
  uint32_t pad;
};
static_assert(sizeof(DrmSyncobjTransfer) == 32);

struct DrmSyncobjWait {
  uint64_t handles;
  int64_t timeout_nsec;
  uint32_t count_handles;
  uint32_t flags;
  uint32_t first_signaled;
  uint32_t pad;
};
static_assert(sizeof(DrmSyncobjWait) == 32);

struct DrmSyncobjTimelineWait {
  uint64_t handles;
  uint64_t points;
  int64_t timeout_nsec;
  uint32_t count_handles;
  uint32_t flags;
  uint32_t first_signaled;
  uint32_t pad;
};
static_assert(sizeof(DrmSyncobjTimelineWait) == 40);

struct DrmSyncobjArray {
  uint64_t handles;
  uint32_t count_handles;
  uint32_t pad;
};
static_assert(sizeof(DrmSyncobjArray) == 16);

struct DrmSyncobjTimelineArray {
  uint64_t handles;
  uint64_t points;
  uint32_t count_handles;
  uint32_t flags;
};
static_assert(sizeof(DrmSyncobjTimelineArray) == 24);

// Ioctl numbers (drm.h).
constexpr uint32_t kDrmIoctlVersion = DrmIowr(0x00, sizeof(DrmVersion));
constexpr uint32_t kDrmIoctlGetUnique = DrmIowr(0x01, sizeof(DrmUnique));
constexpr uint32_t kDrmIoctlSetVersion = DrmIowr(0x07, sizeof(DrmSetVersion));
constexpr uint32_t kDrmIoctlGemClose = DrmIow(0x09, sizeof(DrmGemClose));
constexpr uint32_t kDrmIoctlGetCap = DrmIowr(0x0c, sizeof(DrmGetCap));
constexpr uint32_t kDrmIoctlSetClientCap = DrmIow(0x0d, sizeof(DrmSetClientCap));
constexpr uint32_t kDrmIoctlPrimeHandleToFd = DrmIowr(0x2d, sizeof(DrmPrimeHandle));
constexpr uint32_t kDrmIoctlPrimeFdToHandle = DrmIowr(0x2e, sizeof(DrmPrimeHandle));
constexpr uint32_t kDrmIoctlSyncobjCreate = DrmIowr(0xbf, sizeof(DrmSyncobjCreate));
constexpr uint32_t kDrmIoctlSyncobjDestroy = DrmIowr(0xc0, sizeof(DrmSyncobjDestroy));
// As libdrm (and callers built before Linux 6.6) send them: 16 bytes, no
// `point`. The ioctl table's rows carry the kernel's 24.
constexpr uint32_t kDrmSyncobjHandleSizeBeforePoint = 16;
constexpr uint32_t kDrmIoctlSyncobjHandleToFd = DrmIowr(0xc1, kDrmSyncobjHandleSizeBeforePoint);
constexpr uint32_t kDrmIoctlSyncobjFdToHandle = DrmIowr(0xc2, kDrmSyncobjHandleSizeBeforePoint);
constexpr uint32_t kDrmIoctlSyncobjWait = DrmIowr(0xc3, sizeof(DrmSyncobjWait));
constexpr uint32_t kDrmIoctlSyncobjReset = DrmIowr(0xc4, sizeof(DrmSyncobjArray));
constexpr uint32_t kDrmIoctlSyncobjSignal = DrmIowr(0xc5, sizeof(DrmSyncobjArray));
constexpr uint32_t kDrmIoctlSyncobjTimelineWait = DrmIowr(0xca, sizeof(DrmSyncobjTimelineWait));
constexpr uint32_t kDrmIoctlSyncobjQuery = DrmIowr(0xcb, sizeof(DrmSyncobjTimelineArray));
constexpr uint32_t kDrmIoctlSyncobjTransfer = DrmIowr(0xcc, sizeof(DrmSyncobjTransfer));
constexpr uint32_t kDrmIoctlSyncobjTimelineSignal = DrmIowr(0xcd, sizeof(DrmSyncobjTimelineArray));

// DRM_CAP_* (drm.h).
constexpr uint64_t kDrmCapDumbBuffer = 0x1;
constexpr uint64_t kDrmCapPrime = 0x5;
constexpr uint64_t kDrmCapTimestampMonotonic = 0x6;
constexpr uint64_t kDrmCapSyncobj = 0x13;
constexpr uint64_t kDrmCapSyncobjTimeline = 0x14;
constexpr uint64_t kDrmPrimeCapImport = 0x1;
constexpr uint64_t kDrmPrimeCapExport = 0x2;

// DRM_SYNCOBJ_* flags (drm.h).
constexpr uint32_t kDrmSyncobjCreateSignaled = 1u << 0;
constexpr uint32_t kDrmSyncobjQueryFlagsLastSubmitted = 1u << 0;

// The DRM interface version answered by SET_VERSION (drm_ioctl.c).
constexpr int32_t kDrmIfMajor = 1;
constexpr int32_t kDrmIfMinor = 4;

}  // namespace faultlab::uapi

#endif  // FAULTLAB_ENGINE_UAPI_DRM_H_
