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

 private:
  void FindRealDevice();
  // The loopback kernel's client side.
  int Connect();
  int LoopbackOpen(int node, int cloexec);

  const Kind kind_;
  const std::string where_;
  bool usable_ = true;
  std::set<std::string> panthor_nodes_;
  std::mutex mu_;
  std::map<uintptr_t, std::pair<int, uint64_t>>
      map_ids_;  // loopback mappings -> (fd, map id); under mu_
  std::atomic<bool> warned_connect_{false};
};

}  // namespace faultlab::shim

#endif  // FAULTLAB_AGENTS_SHIM_BACKEND_H_
