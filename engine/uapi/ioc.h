// The asm-generic ioctl number encoding (include/uapi/asm-generic/ioctl.h), as
// used on arm64 and x86-64: dir[31:30] size[29:16] type[15:8] nr[7:0].
#ifndef FAULTLAB_ENGINE_UAPI_IOC_H_
#define FAULTLAB_ENGINE_UAPI_IOC_H_

#include <cstdint>

namespace faultlab::uapi {

constexpr uint32_t kIocNone = 0;
constexpr uint32_t kIocWrite = 1;  // user -> kernel (_IOC_WRITE)
constexpr uint32_t kIocRead = 2;   // kernel -> user (_IOC_READ)

constexpr uint32_t Ioc(uint32_t dir, uint32_t type, uint32_t nr, uint32_t size) {
  return dir << 30 | size << 16 | type << 8 | nr;
}
constexpr uint32_t IocDir(uint32_t req) { return req >> 30; }
constexpr uint32_t IocSize(uint32_t req) { return (req >> 16) & 0x3fff; }
constexpr uint32_t IocType(uint32_t req) { return (req >> 8) & 0xff; }
constexpr uint32_t IocNr(uint32_t req) { return req & 0xff; }

// DRM_IOCTL_BASE 'd'.
constexpr uint32_t kDrmIoctlBase = 'd';
constexpr uint32_t DrmIo(uint32_t nr) { return Ioc(kIocNone, kDrmIoctlBase, nr, 0); }
constexpr uint32_t DrmIor(uint32_t nr, uint32_t size) {
  return Ioc(kIocRead, kDrmIoctlBase, nr, size);
}
constexpr uint32_t DrmIow(uint32_t nr, uint32_t size) {
  return Ioc(kIocWrite, kDrmIoctlBase, nr, size);
}
constexpr uint32_t DrmIowr(uint32_t nr, uint32_t size) {
  return Ioc(kIocRead | kIocWrite, kDrmIoctlBase, nr, size);
}

// Driver-private ioctls live in [DRM_COMMAND_BASE, DRM_COMMAND_END) (drm.h).
constexpr uint32_t kDrmCommandBase = 0x40;
constexpr uint32_t kDrmCommandEnd = 0xa0;

}  // namespace faultlab::uapi

#endif  // FAULTLAB_ENGINE_UAPI_IOC_H_
