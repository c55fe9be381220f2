// Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h), fixed
// here so that the twin's results do not depend on the host's <cerrno>.
#ifndef FAULTLAB_ENGINE_UAPI_ERRNO_H_
#define FAULTLAB_ENGINE_UAPI_ERRNO_H_

namespace faultlab::uapi {

constexpr int kEPERM = 1;
constexpr int kENOENT = 2;
constexpr int kEINTR = 4;
constexpr int kEBADF = 9;
constexpr int kENOMEM = 12;
constexpr int kEACCES = 13;
constexpr int kEFAULT = 14;
constexpr int kEBUSY = 16;
constexpr int kEEXIST = 17;
constexpr int kENODEV = 19;
constexpr int kEINVAL = 22;
constexpr int kENOSPC = 28;
constexpr int kERANGE = 34;
constexpr int kE2BIG = 7;
constexpr int kENOSYS = 38;
constexpr int kETIME = 62;
constexpr int kEOPNOTSUPP = 95;
constexpr int kETIMEDOUT = 110;
constexpr int kECANCELED = 125;

// "EINVAL", "ENOENT", ... for messages and reports; "E<n>" for others.
const char* ErrnoName(int err);

}  // namespace faultlab::uapi

#endif  // FAULTLAB_ENGINE_UAPI_ERRNO_H_
