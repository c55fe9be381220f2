// Which handler answers each ioctl of the table (uapi/ioctls.h). A row
// without one is answered -ENOSYS (a DRM core ioctl the twin does not model
// yet); a panthor ioctl newer than the variant's driver version is unknown
// (-EINVAL) as on a kernel of that version (Device::Known()).
#include "engine/dev/device.h"

namespace faultlab::dev {

using uapi::IoctlId;

const std::array<Device::Handler, static_cast<size_t>(IoctlId::kCount)>& Device::Handlers() {
  static const auto* table = [] {
    auto* t = new std::array<Handler, static_cast<size_t>(IoctlId::kCount)>{};
    auto set = [t](IoctlId id, Handler h) { (*t)[static_cast<size_t>(id)] = h; };
    // DRM core (drm_ioctls[]).
    set(IoctlId::kVersion, &Device::IoctlVersion);
    set(IoctlId::kGetUnique, &Device::IoctlGetUnique);
    set(IoctlId::kSetVersion, &Device::IoctlSetVersion);
    set(IoctlId::kGemClose, &Device::IoctlGemClose);
    set(IoctlId::kGetCap, &Device::IoctlGetCap);
    set(IoctlId::kSetClientCap, &Device::IoctlSetClientCap);
    set(IoctlId::kSyncobjCreate, &Device::IoctlSyncobjCreate);
    set(IoctlId::kSyncobjDestroy, &Device::IoctlSyncobjDestroy);
    set(IoctlId::kSyncobjWait, &Device::IoctlSyncobjWait);
    set(IoctlId::kSyncobjReset, &Device::IoctlSyncobjReset);
    set(IoctlId::kSyncobjSignal, &Device::IoctlSyncobjSignal);
    set(IoctlId::kSyncobjTimelineWait, &Device::IoctlSyncobjTimelineWait);
    set(IoctlId::kSyncobjQuery, &Device::IoctlSyncobjQuery);
    set(IoctlId::kSyncobjTransfer, &Device::IoctlSyncobjTransfer);
    set(IoctlId::kSyncobjTimelineSignal, &Device::IoctlSyncobjTimelineSignal);
    set(IoctlId::kSyncobjHandleToFd, &Device::IoctlSyncobjHandleToFd);
    set(IoctlId::kSyncobjFdToHandle, &Device::IoctlSyncobjFdToHandle);
    set(IoctlId::kPrimeHandleToFd, &Device::IoctlPrimeHandleToFd);
    set(IoctlId::kPrimeFdToHandle, &Device::IoctlPrimeFdToHandle);
    // panthor (panthor_drm_driver_ioctls[]).
    set(IoctlId::kDevQuery, &Device::IoctlDevQuery);
    set(IoctlId::kVmCreate, &Device::IoctlVmCreate);
    set(IoctlId::kVmDestroy, &Device::IoctlVmDestroy);
    set(IoctlId::kVmBind, &Device::IoctlVmBind);
    set(IoctlId::kVmGetState, &Device::IoctlVmGetState);
    set(IoctlId::kBoCreate, &Device::IoctlBoCreate);
    set(IoctlId::kBoMmapOffset, &Device::IoctlBoMmapOffset);
    set(IoctlId::kGroupCreate, &Device::IoctlGroupCreate);
    set(IoctlId::kGroupDestroy, &Device::IoctlGroupDestroy);
    set(IoctlId::kGroupSubmit, &Device::IoctlGroupSubmit);
    set(IoctlId::kGroupGetState, &Device::IoctlGroupGetState);
    set(IoctlId::kTilerHeapCreate, &Device::IoctlTilerHeapCreate);
    set(IoctlId::kTilerHeapDestroy, &Device::IoctlTilerHeapDestroy);
    set(IoctlId::kBoSetLabel, &Device::IoctlBoSetLabel);
    set(IoctlId::kSetUserMmioOffset, &Device::IoctlSetUserMmioOffset);
    set(IoctlId::kBoSync, &Device::IoctlBoSync);
    set(IoctlId::kBoQueryInfo, &Device::IoctlBoQueryInfo);
    return t;
  }();
  return *table;
}

}  // namespace faultlab::dev
