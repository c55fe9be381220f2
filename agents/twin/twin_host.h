// TwinHost: the twin inside a host process, serving programs as a kernel
// would — the shim's emulate mode (the program in the same process) and the
// loopback kernel (agents/loopback: programs in other processes) both run it.
//
// It keeps what a kernel keeps for a device beyond the ioctls: the CPU
// mappings of BOs — each maps the device's content file at the BO's bytes
// (engine/gem/content.h), so every mapping and the emulated GPU see one copy
// and nothing is copied or made coherent; while a trace is recorded, the
// CPU's writes through them are found whenever the GPU may look (submits,
// waits, the live device's steps) and recorded — the LATEST_FLUSH_ID pages
// (kept reading the register), files held open by the calls still in them,
// and syncobj waits that block in host time.
//
// The live device (StartLive(), docs/shim.md "The live device"): a device
// thread runs the GPU in host time — virtual time follows CLOCK_MONOTONIC
// from the start — while the program computes, sleeps or polls. Each of its
// steps is one call of Device::RunGpu(), recorded in order with the
// program's calls, so a replay makes the same steps at the same points and
// stays in virtual time. Without it the GPU runs inside submits and waits
// only, in virtual time.
//
// One lock guards the twin and everything here: callers hold host.mu() for
// every call (and may guard their own tables with it); a wait that blocks
// and the device thread between steps let go of it.
//
//   TwinHost host(config);
//   host.StartLive();
//   std::unique_lock<std::recursive_mutex> lock(host.mu());
//   dev::File* f = host.Open(dev::NodeType::kRender, &memory);
//   int ret = host.Ioctl(lock, f, memory, request, arg);
#ifndef FAULTLAB_AGENTS_TWIN_TWIN_HOST_H_
#define FAULTLAB_AGENTS_TWIN_TWIN_HOST_H_

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/dev/device.h"
#include "engine/uapi/ioctls.h"
#include "engine/usermem/user_memory.h"

namespace faultlab::twin {

// A process's memory as the twin's user memory: copies that touch an unmapped
// address fail with -EFAULT, as copy_{from,to}_user do. `pid` 0 is this process.
class ProcessMemory : public UserMemory {
 public:
  explicit ProcessMemory(pid_t pid = 0) : pid_(pid) {}
  int CopyFromUser(void* dst, uint64_t src, size_t n) override;
  int CopyToUser(uint64_t dst, const void* src, size_t n) override;

 private:
  pid_t pid_;
};

// Host time, for wait timeouts (the uAPI's are absolute CLOCK_MONOTONIC ns).
int64_t MonotonicNs();

class TwinHost {
 public:
  explicit TwinHost(const dev::DeviceConfig& config);
  ~TwinHost();  // stops the live device
  TwinHost(const TwinHost&) = delete;
  TwinHost& operator=(const TwinHost&) = delete;

  // How often a live device looks at memory while a queue is blocked on a
  // SYNC_WAIT (a CPU write the GPU is not told of is seen within this).
  static constexpr int64_t kLookNs = 1'000'000;
  // A live device's clock lagging host time by more than this catches up
  // before a call (so that a job submitted after an idle spell starts now).
  static constexpr int64_t kMaxLagNs = 1'000'000;

  // Starts the live device's thread (not under mu()). Virtual time follows
  // host time from now on; waits block in host time.
  void StartLive();
  // Stops it (not under mu()): the GPU runs inside calls again. A forked
  // child (which has no device thread) only forgets it.
  void StopLive();
  bool live() const { return live_; }
  // Virtual time now: host time's, live; the device's clock otherwise.
  uint64_t now_ns() const { return live_ ? VirtualNow() : device_.now_ns(); }
  // Called under mu() after every call and every step of the live device
  // (the loopback kernel writes the kernel log with it, the shim signals
  // its sync_file descriptors).
  void set_on_progress(std::function<void()> fn) { on_progress_ = std::move(fn); }

  std::recursive_mutex& mu() { return mu_; }
  dev::Device& device() { return device_; }

  // drm_open() for a program whose memory is `umem`.
  dev::File* Open(dev::NodeType node, UserMemory* umem) { return device_.Open(node, umem); }
  // The program's last descriptor of `file` closed: drm_release() now, or
  // when the last call still in it returns (the kernel holds the file for
  // the duration of a call). Its mappings stay in the programs; a BO freed
  // meanwhile reads as zeros there (a kernel's mapping would keep the BO:
  // the twin does not, so that replays free BOs when the recording did).
  void Release(dev::File* file);

  // One ioctl on `file`, `lock` holding mu(). Live, the device first
  // catches up with host time, and a SYNCOBJ wait looks (a call with a zero
  // timeout) and, its fences not signalled, lets go of the lock until the
  // device steps or another caller submits or signals, then looks again,
  // until its CLOCK_MONOTONIC deadline (-ETIME). Not live, the GPU runs
  // inside submits and waits: a wait runs the twin in virtual time until
  // its fences signal or no work is left, and only a WAIT_FOR_SUBMIT wait
  // still missing a fence then blocks in host time. Either way a blocked
  // wait ends with -EINTR when `gone()` says the caller went away (checked
  // every second). Each look is one ioctl of the trace.
  //
  // SYNCOBJ_HANDLE_TO_FD and PRIME_HANDLE_TO_FD make the descriptor in this
  // process (an eventfd for a sync_file, /dev/null otherwise, as a kernel
  // makes an anon file) and reserve its number for the device; on success
  // `*exported` is it (the device's key), else -1. The host writes to a
  // sync_file's eventfd when its fence signals, so poll() works on it.
  int Ioctl(std::unique_lock<std::recursive_mutex>& lock, dev::File* file, UserMemory& mem,
            uint32_t request, uint64_t arg, const std::function<bool()>& gone = nullptr,
            int* exported = nullptr);

  // A descriptor the device handed out (`key`, its number here), closed for
  // good: the device lets go (under mu()). The caller closes its own.
  void CloseExport(int32_t key);
  // A sync_file whose `key` descriptor was closed while `fd` (a dup) lives:
  // the eventfd written when it signals.
  void WatchSyncFile(int32_t key, int fd);
  // ioctl() of a handed-out descriptor (under mu()): SYNC_IOC_FILE_INFO of a
  // sync_file, DMA_BUF_IOCTL_SYNC of a dma-buf, through `mem`; -ENOTTY for
  // the rest, -EBADF for no such descriptor.
  int ExportIoctl(int32_t key, unsigned long request, uint64_t arg, UserMemory& mem);
  // lseek() of a dma-buf (dma_buf_llseek()): its size at SEEK_END, 0 at
  // SEEK_SET, offset 0 only; -errno otherwise.
  int64_t ExportSeek(int32_t key, int64_t offset, int whence);
  // The text of a file the device makes as it is read (under mu()):
  // "devfreq/<file>" and "power/<file>" (sysfs), "fdinfo" (the DRM keys of
  // `file`'s fdinfo; the caller puts its descriptor's own lines first).
  // False: no such file.
  bool LiveText(const std::string& name, dev::File* file, std::string* out);

  // mmap() of `offset` of `file` with protection `prot` (panthor_mmap()):
  // a BO's fake offset (its pages are populated) or the file's
  // LATEST_FLUSH_ID page. 0 or -errno.
  int Mmap(dev::File* file, uint64_t offset, uint64_t length, int prot, bool shared);
  // What a mapping Mmap() allowed is made of: a BO's bytes are the device's
  // content file at `*file_offset` — returns the file (the caller maps it
  // MAP_SHARED); the LATEST_FLUSH_ID page is no file's — returns -1 (the
  // caller makes a page and Track()s it as the view).
  int MapSource(dev::File* file, uint64_t offset, uint64_t* file_offset);
  // Tracks a mapping Mmap() allowed until Unmap(id): `view` is where it is
  // (the program's address in emulate mode; for a LATEST_FLUSH_ID page the
  // memory the host keeps reading the register). `programs_pages`: `view`
  // is the program's own mapping, with protection `prot`; else the host's,
  // which it unmaps when the mapping goes (the loopback kernel).
  uint64_t Track(dev::File* file, uint64_t offset, uint64_t length, int prot, bool shared,
                 char* view, bool programs_pages);
  // The same for a mapping of a dma-buf the device exported: `bo`'s bytes
  // from `offset`, the program's own pages at `view`.
  uint64_t TrackDmaBuf(const std::shared_ptr<gem::Bo>& bo, uint64_t offset, uint64_t length,
                       int prot, char* view);
  // munmap(): what the CPU wrote stays in the BOs. False: no such mapping.
  bool Unmap(uint64_t id);
  // The mapping whose view starts at `view`, or 0.
  uint64_t MappingAt(const void* view) const;

 private:
  // A CPU mapping of a BO or of a LATEST_FLUSH_ID page (flush_id_maps_).
  struct Mapping {
    dev::File* file;
    uint64_t offset;  // the mmap offset mapped
    uint64_t bo_off;  // where in its BO the mapping starts
    uint64_t length;
    int prot;
    bool shared;
    char* view;
    bool programs_pages;
    // While recording, for a writable shared mapping: its BO and the BO's
    // bytes as last recorded.
    std::weak_ptr<gem::Bo> bo;
    std::string shadow;
  };
  // A SYNCOBJ_WAIT or TIMELINE_WAIT (`W`) in host time.
  template <typename W>
  int HostTimeWait(std::unique_lock<std::recursive_mutex>& lock, dev::File* file, UserMemory& mem,
                   uint32_t request, uint64_t user, const std::function<bool()>& gone);
  // SYNCOBJ_HANDLE_TO_FD / PRIME_HANDLE_TO_FD (Ioctl()).
  int MakeExport(uapi::IoctlId id, dev::File* file, UserMemory& mem, uint32_t request, uint64_t arg,
                 int* exported);
  // Host time as virtual time, and back (the live device's clock).
  uint64_t VirtualNow() const;
  int64_t HostTimeOf(uint64_t virtual_ns) const;
  // Live: a step if work is due or the clock lags; when the next is due
  // (host ns; INT64_MAX: only a call can make work).
  void CatchUp();
  int64_t NextStepAt();
  // One step of the live device to `until` (virtual).
  void Step(uint64_t until);
  void DeviceLoop();
  // While a trace is recorded: what the CPU wrote through writable shared
  // mappings since the last look (the BO's bytes against the shadow) is
  // noted, page by page, for the next submit's or step's record.
  void RecordCpuWrites();
  // The GPU's stores since the last call (gpu_writes_) go into the shadows:
  // they are not the CPU's.
  void ResyncShadows();
  // Every LATEST_FLUSH_ID page reads the register's value now.
  void RefreshFlushIdPages();
  void Drop(std::map<uint64_t, Mapping>::iterator it);
  // While recording, a writable shared mapping keeps a shadow of its bytes.
  void Shadow(uint64_t id, const std::shared_ptr<gem::Bo>& bo, Mapping* m);
  void Close(dev::File* file);

  std::recursive_mutex mu_;
  // A call or a step changed something: blocked waits look again.
  std::condition_variable_any progress_;
  // A call may have made work: the device thread looks again.
  std::condition_variable_any work_;
  dev::Device device_;
  dev::Device::GpuWrites gpu_writes_;  // the GPU's stores, for ResyncShadows()
  // The live device: its thread, the process that started it, and where
  // virtual time stood against host time then.
  bool live_ = false;
  bool stopping_ = false;
  std::unique_ptr<std::thread> thread_;
  pid_t thread_pid_ = 0;
  // Host time the device thread sleeps until (INT64_MAX: a call's wake; 0:
  // it is awake).
  int64_t sleeping_until_ = 0;
  int64_t host_origin_ns_ = 0;
  uint64_t virtual_origin_ns_ = 0;
  std::function<void()> on_progress_;
  // sync_file keys not yet signalled -> the eventfd to write when they are.
  std::map<int32_t, int> sync_files_;
  void SignalSyncFiles();
  std::map<uint64_t, Mapping> maps_;  // by id
  uint64_t next_map_ = 1;
  // The LATEST_FLUSH_ID mappings' ids: refreshed after every call, so kept
  // apart from the BO mappings (a program may hold thousands).
  std::set<uint64_t> flush_id_maps_;
  // The mappings with shadows, by BO (ResyncShadows() finds them by store).
  std::multimap<const gem::Bo*, uint64_t> shadowed_;
  // Calls in progress per file, and files released while a call was in them.
  std::map<dev::File*, int> in_calls_;
  std::set<dev::File*> released_;
};

}  // namespace faultlab::twin

#endif  // FAULTLAB_AGENTS_TWIN_TWIN_HOST_H_
