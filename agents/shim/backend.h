// Backend: the kernel a passthrough descriptor talks to (docs/board.md) —
// the real one (a /dev/dri node that says "panthor"), the loopback kernel
// (faultlab-loopback behind FAULTLAB_BACKEND=unix:PATH: the twin in another
// process, posing as the kernel; agents/loopback/protocol.h), or a stand-in
// node (FAULTLAB_DEVICE=PATH, whose every ioctl is recorded: the capture-cost
// benchmark's). Calls go to it as real syscalls.
#ifndef FAULTLAB_AGENTS_SHIM_BACKEND_H_
#define FAULTLAB_AGENTS_SHIM_BACKEND_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "agents/loopback/protocol.h"

namespace faultlab::shim {

class Backend {
 public:
  enum class Kind { kReal, kLoopback, kStandIn };
  // The real kernel's backend looks for its panthor nodes now (and says on
  // stderr when there is none).
  Backend(Kind kind, std::string where);

  Kind kind() const { return kind_; }
  // False when there is no device to pass through to (no panthor node).
  bool usable() const { return usable_; }
  // Where calls go, for the trace header: "unix:PATH", "stand-in:PATH" or the node.
  std::string Describe() const;
  // Is `path` the device? (*node: 0 primary, 1 render)
  bool Claims(const char* path, int* node) const;

  // Opens node `node` (`path` for the real kernel): a descriptor, or -1 with errno.
  int Open(const char* path, int node, int flags, mode_t mode);
  // A descriptor of the shim's own on the render node (the probe), or -1.
  int OpenForProbe();
  // One ioctl: 0 or more, or -errno.
  int Ioctl(int fd, unsigned long request, void* arg);
  // mmap() of the device; `*result` 0 or -errno (errno set when it fails).
  void* Mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset, int* result);
  void Unmapped(void* addr);
  // The profile the loopback kernel runs ("" for the others).
  std::string LoopbackProfile();

  // The loopback kernel's descriptors (a real kernel's are the program's
  // own and never come here). SYNCOBJ_HANDLE_TO_FD and PRIME_HANDLE_TO_FD
  // bring one back as a descriptor of this process, whose number the
  // program sees; FD_TO_HANDLE names the kernel's number for it; its close,
  // mmap, lseek and ioctls go to the kernel.
  bool OwnsExport(int fd);
  void CloseExport(int fd);
  void* ExportMmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset,
                   int* result);
  int64_t ExportSeek(int fd, int64_t offset, int whence);
  int ExportIoctl(int fd, unsigned long request, void* arg);
  // A file the loopback kernel makes as it is read (sysfs devfreq and power;
  // "fdinfo" of the device file `fd`, -1 for the others); false: none.
  bool Text(const std::string& name, int fd, std::string* out);

 private:
  void FindRealDevice();
  // The loopback kernel's client side.
  int Connect();
  int LoopbackOpen(int node, int cloexec);
  // A mapping the loopback kernel answers `r` (kMmap, or kExport's mmap)
  // with, on connection `conn`: mapped here, its id kept for munmap.
  void* LoopbackMap(int conn, loopback::Request r, void* addr, size_t length, int prot, int flags,
                    off_t offset, int* result);

  const Kind kind_;
  const std::string where_;
  bool usable_ = true;
  std::set<std::string> panthor_nodes_;
  std::mutex mu_;
  std::map<uintptr_t, std::pair<int, uint64_t>>
      map_ids_;  // loopback mappings -> (fd, map id); under mu_
  std::atomic<bool> warned_connect_{false};
  // Loopback descriptors: ours -> (the kernel's number, the file's
  // connection it came on); under mu_.
  std::map<int, std::pair<int32_t, int>> exports_;
};

}  // namespace faultlab::shim

#endif  // FAULTLAB_AGENTS_SHIM_BACKEND_H_
