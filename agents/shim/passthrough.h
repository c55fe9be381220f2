// Passthrough: the shim's board-capture mode (FAULTLAB_SHIM=passthrough;
// docs/board.md). Every call on the device goes to its kernel (backend.h) as
// a real syscall, and the capture (capture.h) records it: the descriptors
// that are the device's (dups followed), each ioctl with what it points at,
// CPU maps, the kernel's facts at the end. At the first open the kernel is
// probed on a descriptor of the shim's own: its driver version, its GPU, and
// whether it has the alloc-on-fault series.
#ifndef FAULTLAB_AGENTS_SHIM_PASSTHROUGH_H_
#define FAULTLAB_AGENTS_SHIM_PASSTHROUGH_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agents/shim/backend.h"
#include "agents/shim/capture.h"
#include "agents/shim/kernel_facts.h"
#include "engine/profiles/profile.h"
#include "engine/replay/rewrite.h"
#include "engine/uapi/panthor.h"
#include "proto/trace.pb.h"

namespace faultlab::shim {

class Passthrough {
 public:
  explicit Passthrough(std::unique_ptr<Backend> backend);

  const Backend& backend() const { return *backend_; }
  // The device's profile (loopback: what the backend runs, for the fake sysfs).
  const profiles::Profile& profile();
  bool Claims(const char* path, int* node) const { return backend_->Claims(path, node); }

  // Opens the device's node: a descriptor, or -1 with errno.
  int Open(const char* path, int node, int flags, mode_t mode);
  // The capture's file id of a descriptor; 0: not the device's.
  uint32_t FileOf(int fd) const;
  int NodeOf(uint32_t file);
  // dup(): `to` is the same file as `from`.
  void Alias(int from, int to);
  // close(): the file's last descriptor closes it (when no call is in it).
  void Forget(int fd);

  // One ioctl on `fd` (file `file`): 0 or more, or -errno.
  int Ioctl(int fd, uint32_t file, unsigned long request, void* arg);
  void* Mmap(void* addr, size_t length, int prot, int flags, int fd, uint32_t file, off_t offset);
  void Unmapped(void* addr);
  // The loopback kernel's descriptors (Backend): a real kernel's are the
  // program's own. Their maps are not recorded (a board replay needs none).
  bool OwnsExport(int fd) { return backend_->OwnsExport(fd); }
  Backend& backend_for_exports() { return *backend_; }
  // The loopback kernel's files that are made as they are read (FakeFs):
  // devfreq and power, and a device descriptor's fdinfo (its own lines,
  // then the kernel's DRM keys).
  bool LiveText(const std::string& name, std::string* out);
  // The end of the program: the kernel's facts, then the trace's last chunk.
  void Finish();

 private:
  static constexpr int kFast = 4096;  // descriptors below this are looked up without a lock

  void Set(int fd, uint32_t file);  // under mu_
  void InFlight(uint32_t file, int delta);
  void Closed(uint32_t file);  // under mu_
  void Probe(std::vector<trace::ConfigEntry>* config, std::string* profile_id);
  void StartCapture();  // under mu_
  void FlagAllocOnFault(void* arg);
  // FAULTLAB_AOF on a kernel with the series (docs/shim.md "Alloc-on-fault
  // for a program that does not ask"): the selector, and its header entries.
  void ProgramAof(std::vector<trace::ConfigEntry>* config);
  // A BO_CREATE the selector picks goes to the kernel (and the trace) as
  // alloc-on-fault: true with the program's own request in `asked`, which
  // RestoreBo puts back (flags, granularity) after the call.
  bool ConvertBo(void* arg, uapi::PanthorBoCreate* asked);
  static void RestoreBo(void* arg, const uapi::PanthorBoCreate& asked);
  // The capture, in the process that started it (a forked child's calls go
  // to the kernel unrecorded: the parent's writer is not running there).
  Capture* cap() const { return forked_child_ ? nullptr : capture_.get(); }
  static inline std::atomic<bool> forked_child_{false};

  std::unique_ptr<Backend> backend_;
  // Whether the kernel has the series: "present", "absent" or "unknown"
  // (probed at the first open).
  std::string series_ = "unknown";
  // The variant the capture's header names: mainline for a 1.7+ kernel, else
  // the default (series-fixed).
  std::string variant_;
  std::optional<replay::AofSelector> aof_;  // FAULTLAB_AOF, once probed
  uint64_t aof_granularity_ = 0;
  // fd -> file: the first kFast without a lock, the rest in slow_ids_.
  std::atomic<uint32_t> ids_[kFast];
  mutable std::mutex mu_;
  // Non-blocking calls are recorded in the order the kernel ran them: one
  // at a time, from before the call until recorded.
  std::mutex order_;
  std::map<int, uint32_t> slow_ids_;
  std::map<uint32_t, int> refs_, nodes_, in_flight_;  // per file: descriptors, node, waits in it
  uint32_t untraced_files_ = 0;
  bool started_ = false;
  std::unique_ptr<Capture> capture_;
  KernelFacts facts_;
  std::once_flag profile_once_;
  profiles::Profile profile_;
  std::atomic<bool> warned_{false};
};

}  // namespace faultlab::shim

#endif  // FAULTLAB_AGENTS_SHIM_PASSTHROUGH_H_
