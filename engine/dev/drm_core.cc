// The DRM core's ioctls a render-only driver with SYNCOBJ features answers
// (drm_ioctl.c, drm_gem.c): version, unique name, set-version, GEM close,
// capabilities.
#include <algorithm>

#include "engine/dev/device.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT: the ABI's names read best unqualified here

int Device::NotModelled(File&, void*) {
  ++unmodelled_ioctls_;
  return -kENOSYS;
}

int Device::CopyString(File& f, const std::string& value, uint64_t* len, uint64_t ptr) {
  // drm_copy_field(): copy at most *len bytes, report the full length.
  uint64_t n = value.size();
  if (n > *len) n = *len;
  *len = value.size();
  if (n && ptr && f.umem_->CopyToUser(ptr, value.data(), n) != 0) return -kEFAULT;
  return 0;
}

// Models drm_version().
int Device::IoctlVersion(File& f, void* data) {
  auto* v = static_cast<uapi::DrmVersion*>(data);
  v->version_major = kPanthorMajor;
  v->version_minor = DriverMinor(config_.variant);
  v->version_patchlevel = kPanthorPatchlevel;
  int err = CopyString(f, kPanthorName, &v->name_len, v->name);
  if (!err) err = CopyString(f, kPanthorDate, &v->date_len, v->date);
  if (!err) err = CopyString(f, kPanthorDesc, &v->desc_len, v->desc);
  return err;
}

// Models drm_getunique(): the platform device name.
int Device::IoctlGetUnique(File& f, void* data) {
  auto* u = static_cast<uapi::DrmUnique*>(data);
  const std::string& unique = config_.profile.unique;
  if (u->unique_len >= unique.size() &&
      f.umem_->CopyToUser(u->unique, unique.data(), unique.size()) != 0) {
    return -kEFAULT;
  }
  u->unique_len = unique.size();
  return 0;
}

// Models drm_setversion().
int Device::IoctlSetVersion(File&, void* data) {
  auto* sv = static_cast<uapi::DrmSetVersion*>(data);
  const int minor = DriverMinor(config_.variant);
  int ret = 0;
  if (sv->drm_di_major != -1 &&
      (sv->drm_di_major != kDrmIfMajor || sv->drm_di_minor < 0 || sv->drm_di_minor > kDrmIfMinor)) {
    ret = -kEINVAL;
  } else if (sv->drm_dd_major != -1 && (sv->drm_dd_major != kPanthorMajor || sv->drm_dd_minor < 0 ||
                                        sv->drm_dd_minor > minor)) {
    ret = -kEINVAL;
  }
  sv->drm_di_major = kDrmIfMajor;
  sv->drm_di_minor = kDrmIfMinor;
  sv->drm_dd_major = kPanthorMajor;
  sv->drm_dd_minor = minor;
  return ret;
}

// Models drm_gem_close_ioctl(): no pad check; an unknown handle is -EINVAL.
int Device::IoctlGemClose(File& f, void* data) {
  auto* c = static_cast<uapi::DrmGemClose*>(data);
  auto it = f.handles_.find(c->handle);
  if (it == f.handles_.end()) return -kEINVAL;
  f.handles_.erase(it);
  return 0;
}

// Models drm_getcap() for a render-only (non-KMS) driver with SYNCOBJ and
// SYNCOBJ_TIMELINE features.
int Device::IoctlGetCap(File&, void* data) {
  auto* c = static_cast<uapi::DrmGetCap*>(data);
  c->value = 0;
  switch (c->capability) {
    case kDrmCapTimestampMonotonic:
      c->value = 1;
      return 0;
    case kDrmCapPrime:
      c->value = kDrmPrimeCapImport | kDrmPrimeCapExport;
      return 0;
    case kDrmCapSyncobj:
      c->value = 1;
      return 0;
    case kDrmCapSyncobjTimeline:
      c->value = 1;
      return 0;
    default:
      return -kEOPNOTSUPP;  // "Other caps only work with KMS drivers"
  }
}

// Models drm_setclientcap(): no render-only settable capabilities; every
// other cap needs DRIVER_MODESET, which panthor lacks.
int Device::IoctlSetClientCap(File&, void*) { return -kEOPNOTSUPP; }

}  // namespace faultlab::dev
