// Our DRM core definitions against libdrm's copy of include/uapi/drm/drm.h
// (Debian's libdrm-dev): every ioctl number, struct size and field offset.
#include <gtest/gtest.h>
#include <libdrm/drm.h>

#include <cstddef>

#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"

namespace faultlab::uapi {
namespace {

#define SAME_LAYOUT(ours, theirs, field) \
  EXPECT_EQ(offsetof(ours, field), offsetof(theirs, field)) << #ours "." #field

TEST(DrmAbiTest, IoctlNumbersMatchLibdrm) {
  EXPECT_EQ(kDrmIoctlVersion, DRM_IOCTL_VERSION);
  EXPECT_EQ(kDrmIoctlGetUnique, DRM_IOCTL_GET_UNIQUE);
  EXPECT_EQ(kDrmIoctlSetVersion, DRM_IOCTL_SET_VERSION);
  EXPECT_EQ(kDrmIoctlGemClose, DRM_IOCTL_GEM_CLOSE);
  EXPECT_EQ(kDrmIoctlGetCap, DRM_IOCTL_GET_CAP);
  EXPECT_EQ(kDrmIoctlSetClientCap, DRM_IOCTL_SET_CLIENT_CAP);
  EXPECT_EQ(kDrmIoctlPrimeHandleToFd, DRM_IOCTL_PRIME_HANDLE_TO_FD);
  EXPECT_EQ(kDrmIoctlPrimeFdToHandle, DRM_IOCTL_PRIME_FD_TO_HANDLE);
  EXPECT_EQ(kDrmIoctlSyncobjCreate, DRM_IOCTL_SYNCOBJ_CREATE);
  EXPECT_EQ(kDrmIoctlSyncobjDestroy, DRM_IOCTL_SYNCOBJ_DESTROY);
  EXPECT_EQ(kDrmIoctlSyncobjHandleToFd, DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD);
  EXPECT_EQ(kDrmIoctlSyncobjFdToHandle, DRM_IOCTL_SYNCOBJ_FD_TO_HANDLE);
  EXPECT_EQ(kDrmIoctlSyncobjWait, DRM_IOCTL_SYNCOBJ_WAIT);
  EXPECT_EQ(kDrmIoctlSyncobjReset, DRM_IOCTL_SYNCOBJ_RESET);
  EXPECT_EQ(kDrmIoctlSyncobjSignal, DRM_IOCTL_SYNCOBJ_SIGNAL);
  EXPECT_EQ(kDrmIoctlSyncobjTimelineWait, DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT);
  EXPECT_EQ(kDrmIoctlSyncobjQuery, DRM_IOCTL_SYNCOBJ_QUERY);
  EXPECT_EQ(kDrmIoctlSyncobjTransfer, DRM_IOCTL_SYNCOBJ_TRANSFER);
  EXPECT_EQ(kDrmIoctlSyncobjTimelineSignal, DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL);
  EXPECT_EQ(kDrmCommandBase, static_cast<uint32_t>(DRM_COMMAND_BASE));
  EXPECT_EQ(kDrmCommandEnd, static_cast<uint32_t>(DRM_COMMAND_END));
}

TEST(DrmAbiTest, StructLayoutsMatchLibdrm) {
  EXPECT_EQ(sizeof(DrmVersion), sizeof(drm_version));
  SAME_LAYOUT(DrmVersion, drm_version, name_len);
  SAME_LAYOUT(DrmVersion, drm_version, name);
  SAME_LAYOUT(DrmVersion, drm_version, date_len);
  SAME_LAYOUT(DrmVersion, drm_version, desc);
  EXPECT_EQ(sizeof(DrmUnique), sizeof(drm_unique));
  EXPECT_EQ(sizeof(DrmSetVersion), sizeof(drm_set_version));
  EXPECT_EQ(sizeof(DrmGemClose), sizeof(drm_gem_close));
  EXPECT_EQ(sizeof(DrmGetCap), sizeof(drm_get_cap));
  EXPECT_EQ(sizeof(DrmPrimeHandle), sizeof(drm_prime_handle));
  EXPECT_EQ(sizeof(DrmSyncobjCreate), sizeof(drm_syncobj_create));
  EXPECT_EQ(sizeof(DrmSyncobjWait), sizeof(drm_syncobj_wait));
  SAME_LAYOUT(DrmSyncobjWait, drm_syncobj_wait, count_handles);
  SAME_LAYOUT(DrmSyncobjWait, drm_syncobj_wait, first_signaled);
  EXPECT_EQ(sizeof(DrmSyncobjTimelineWait), sizeof(drm_syncobj_timeline_wait));
  SAME_LAYOUT(DrmSyncobjTimelineWait, drm_syncobj_timeline_wait, timeout_nsec);
  EXPECT_EQ(sizeof(DrmSyncobjArray), sizeof(drm_syncobj_array));
  EXPECT_EQ(sizeof(DrmSyncobjTimelineArray), sizeof(drm_syncobj_timeline_array));
  SAME_LAYOUT(DrmSyncobjTimelineArray, drm_syncobj_timeline_array, count_handles);
  EXPECT_EQ(sizeof(DrmSyncobjTransfer), sizeof(drm_syncobj_transfer));
  EXPECT_EQ(kDrmCapSyncobj, static_cast<uint64_t>(DRM_CAP_SYNCOBJ));
  EXPECT_EQ(kDrmCapSyncobjTimeline, static_cast<uint64_t>(DRM_CAP_SYNCOBJ_TIMELINE));
  EXPECT_EQ(kDrmCapPrime, static_cast<uint64_t>(DRM_CAP_PRIME));
  EXPECT_EQ(kDrmCapTimestampMonotonic, static_cast<uint64_t>(DRM_CAP_TIMESTAMP_MONOTONIC));
}

}  // namespace
}  // namespace faultlab::uapi
