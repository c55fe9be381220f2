// The twin inside a host process, as the shim's emulate mode and the loopback
// kernel (agents/loopback) both run it: CPU mappings of BOs kept coherent
// where the GPU runs, and syncobj waits that block in host time.
#ifndef FAULTLAB_AGENTS_SHIM_TWIN_HOST_H_
#define FAULTLAB_AGENTS_SHIM_TWIN_HOST_H_

#include <errno.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>

#include "engine/dev/device.h"
#include "engine/uapi/drm.h"
#include "engine/usermem/user_memory.h"

namespace faultlab::shim {

// A process's memory as the twin's user memory: copies that touch an unmapped
// address fail with -EFAULT, as copy_{from,to}_user do. `pid` 0 is this process.
class ProcessMemory : public UserMemory {
 public:
  explicit ProcessMemory(pid_t pid = 0) : pid_(pid) {}
  int CopyFromUser(void* dst, uint64_t src, size_t n) override {
    if (n == 0) return 0;
    iovec local{dst, n}, remote{reinterpret_cast<void*>(src), n};
    return process_vm_readv(pid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n) ? 0 : -EFAULT;
  }
  int CopyToUser(uint64_t dst, const void* src, size_t n) override {
    if (n == 0) return 0;
    iovec local{const_cast<void*>(src), n}, remote{reinterpret_cast<void*>(dst), n};
    return process_vm_writev(pid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n) ? 0 : -EFAULT;
  }

 private:
  pid_t pid() const { return pid_ ? pid_ : getpid(); }
  pid_t pid_;
};

// A CPU mapping of a BO: `view` (in this process) holds the BO's bytes as the
// program sees them, made coherent before and after the GPU may run.
struct CpuMapping {
  dev::File* file;
  uint64_t offset;  // the fake mmap offset mapped
  uint64_t bo_off;  // where in the BO the mapping starts
  size_t length;
  int prot;         // the program's protection (the view may need unprotecting)
  bool shared;
  char* view;
  bool view_protected;  // the view is the program's own pages, with `prot`
};
using CpuMappings = std::map<uintptr_t, CpuMapping>;

// CPU writes through shared writable mappings reach their BOs, page by page
// (and the trace's next CS submit, as NoteCpuWrite records them).
inline void FlushToBos(dev::Device& d, const CpuMappings& maps) {
  std::string before(4096, '\0');
  for (const auto& [key, m] : maps) {
    if (!m.shared || !(m.prot & PROT_WRITE)) continue;
    auto bo = d.BoAtOffset(m.file, m.offset, m.length);
    if (!bo || m.bo_off >= bo->size_bytes()) continue;
    const uint64_t len = std::min<uint64_t>(m.length, bo->size_bytes() - m.bo_off);
    for (uint64_t at = 0; at < len; at += 4096) {
      const uint64_t n = std::min<uint64_t>(4096, len - at);
      bo->Read(m.bo_off + at, before.data(), n);
      const char* now = m.view + at;
      if (memcmp(before.data(), now, n) != 0) d.NoteCpuWrite(bo, m.bo_off + at, std::string(now, n));
    }
  }
}

// The GPU's writes become visible through every mapping.
inline void FillFromBos(dev::Device& d, const CpuMappings& maps) {
  for (const auto& [key, m] : maps) {
    auto bo = d.BoAtOffset(m.file, m.offset, m.length);
    if (!bo || m.bo_off >= bo->size_bytes()) continue;
    const bool unprotect = m.view_protected && !(m.prot & PROT_WRITE);
    if (unprotect) mprotect(m.view, m.length, PROT_READ | PROT_WRITE);
    bo->Read(m.bo_off, m.view, std::min<uint64_t>(m.length, bo->size_bytes() - m.bo_off));
    if (unprotect) mprotect(m.view, m.length, m.prot);
  }
}

// Host time, for wait timeouts (the uAPI's are absolute CLOCK_MONOTONIC ns).
inline int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// SYNCOBJ_WAIT and SYNCOBJ_TIMELINE_WAIT on the twin: it runs (in virtual
// time) until the fences signal or no work is left; if then a WAIT_FOR_SUBMIT
// wait still misses a fence, the caller lets go of the twin (`lock`) and
// blocks in host time until another caller submits or signals (`progress`),
// the CLOCK_MONOTONIC deadline passes (-ETIME) or `gone()` says the caller
// went away (-EINTR: as a killed thread's wait ends; checked at least every
// second). Each attempt is one ioctl of the twin. The file stays open while
// a wait is in it (the kernel holds a reference for the call): callers defer
// a close until their waits return.
inline bool NeverGone() { return false; }
template <typename Wait, typename Lock, typename Gone = bool (*)()>
int TwinSyncobjWait(dev::Device& d, UserMemory& mem, Lock& lock, std::condition_variable_any& progress,
                    dev::File* file, uint32_t req, uint64_t user, Gone gone = NeverGone) {
  Wait w;
  if (mem.CopyFromUser(&w, user, sizeof(w)) != 0) return d.Ioctl(file, req, user);  // the twin says -EFAULT
  const int64_t deadline = w.timeout_nsec;
  constexpr uint32_t kWaitForSubmit = 1u << 1;
  // The attempt's argument lives in the caller's memory, as the real one.
  Wait attempt_copy;
  for (;;) {
    Wait attempt = w;
    attempt.timeout_nsec = INT64_MAX;  // virtual time: run until signalled or idle
    if (mem.CopyToUser(user, &attempt, sizeof(attempt)) != 0) return d.Ioctl(file, req, user);  // read-only: -EFAULT
    int ret = d.Ioctl(file, req, user);
    if (mem.CopyFromUser(&attempt_copy, user, sizeof(attempt_copy)) == 0) w.first_signaled = attempt_copy.first_signaled;
    const bool caller_gone = ret == -ETIME && gone();
    if (ret != -ETIME || !(w.flags & kWaitForSubmit) || MonotonicNs() >= deadline || caller_gone) {
      if (caller_gone) ret = -EINTR;
      if (mem.CopyToUser(user, &w, sizeof(w)) != 0) return -EFAULT;
      return ret;
    }
    const int64_t left = deadline - MonotonicNs();
    progress.wait_for(lock, std::chrono::nanoseconds(std::min<int64_t>(left, 1000000000)));
  }
}

}  // namespace faultlab::shim

#endif  // FAULTLAB_AGENTS_SHIM_TWIN_HOST_H_
