#include "engine/uapi/errno.h"

#include <cstdio>

namespace faultlab::uapi {

const char* ErrnoName(int err) {
  if (err < 0) err = -err;
  switch (err) {
    case 0:
      return "OK";
    case kEPERM:
      return "EPERM";
    case kENOENT:
      return "ENOENT";
    case kEINTR:
      return "EINTR";
    case kE2BIG:
      return "E2BIG";
    case kEBADF:
      return "EBADF";
    case kENOMEM:
      return "ENOMEM";
    case kEACCES:
      return "EACCES";
    case kEFAULT:
      return "EFAULT";
    case kEBUSY:
      return "EBUSY";
    case kEEXIST:
      return "EEXIST";
    case kENODEV:
      return "ENODEV";
    case kEINVAL:
      return "EINVAL";
    case kENOSPC:
      return "ENOSPC";
    case kERANGE:
      return "ERANGE";
    case kENOSYS:
      return "ENOSYS";
    case kETIME:
      return "ETIME";
    case kEOPNOTSUPP:
      return "EOPNOTSUPP";
    case kETIMEDOUT:
      return "ETIMEDOUT";
    case kECANCELED:
      return "ECANCELED";
    default: {
      static thread_local char buf[16];
      std::snprintf(buf, sizeof(buf), "E%d", err);
      return buf;
    }
  }
}

}  // namespace faultlab::uapi
