// UserMemory: the user-memory seam. The twin never dereferences a user
// pointer: every read of user memory (obj_array contents, syncobj handle
// arrays, ...) and every write (DEV_QUERY payloads, points) goes through
// copy_from_user / copy_to_user here, which fail with -EFAULT like the kernel's
// on an address the process has not mapped (partial copies included).
//
// Implementations: SimUserMemory (tests, workloads: a simulated address space)
// and, in the shim, the real process's memory.
//
//   uint32_t handles[4];
//   if (mem.CopyFromUser(handles, args.handles, sizeof(handles))) return -EFAULT;
#ifndef FAULTLAB_ENGINE_USERMEM_USER_MEMORY_H_
#define FAULTLAB_ENGINE_USERMEM_USER_MEMORY_H_

#include <cstddef>
#include <cstdint>

namespace faultlab {

class UserMemory {
 public:
  virtual ~UserMemory() = default;
  // Models copy_from_user(): 0, or -EFAULT if any byte is not readable (the
  // bytes before the fault may have been copied).
  virtual int CopyFromUser(void* dst, uint64_t src, size_t n) = 0;
  // Models copy_to_user(): 0, or -EFAULT if any byte is not writable (the
  // bytes before the fault were written).
  virtual int CopyToUser(uint64_t dst, const void* src, size_t n) = 0;
  // Models clear_user().
  virtual int ClearUser(uint64_t dst, size_t n);
};

// Observes successful copies (the recorder logs them as UserBytes of ioctl
// events). Failed copies are not reported: the ioctl's -EFAULT says enough.
class UserCopyObserver {
 public:
  virtual ~UserCopyObserver() = default;
  virtual void OnCopyIn(uint64_t address, const void* data, size_t n) = 0;
  virtual void OnCopyOut(uint64_t address, const void* data, size_t n) = 0;
};

}  // namespace faultlab

#endif  // FAULTLAB_ENGINE_USERMEM_USER_MEMORY_H_
