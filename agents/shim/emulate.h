// Emulator: the shim's emulate mode (FAULTLAB_SHIM unset or "emulate";
// docs/shim.md): the process sees a panthor device backed by one twin
// (agents/twin). A descriptor of ours is a real descriptor of /dev/null (so
// its number is unique and the kernel's close/dup/fcntl bookkeeping works),
// mapped to a twin File; its mappings are the program's own pages, kept
// coherent with the BOs by the twin host. FAULTLAB_TRACE=PATH records the
// process's use of the device; `faultlab replay PATH` replays it.
//
// The twin is made at first use: FAULTLAB_PROFILE, FAULTLAB_VARIANT,
// FAULTLAB_POLICY and FAULTLAB_BUDGET over the defaults (a value that does
// not parse is said on stderr and the default kept).
#ifndef FAULTLAB_AGENTS_SHIM_EMULATE_H_
#define FAULTLAB_AGENTS_SHIM_EMULATE_H_

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "agents/twin/twin_host.h"
#include "engine/replay/recorder.h"
#include "engine/replay/what_if.h"
#include "engine/trace/io.h"
#include "engine/trace/writer.h"
#include "engine/uapi/ioctls.h"

namespace faultlab::shim {

class Emulator {
 public:
  const profiles::Profile& profile();

  // open() of node `node` (0 primary, 1 render): a descriptor, or -1 with errno.
  int Open(int node, int flags);
  // Is `fd` one of ours? (*node: its node type)
  bool Owns(int fd, dev::NodeType* node = nullptr);
  // Is `fd` a descriptor the device handed out (a syncobj fd, a sync_file,
  // a dma-buf)? Those are real descriptors too: /dev/null for a syncobj fd
  // and a dma-buf, an eventfd for a sync_file (readable once its fence
  // signalled, so poll() works as on a kernel).
  bool OwnsExport(int fd);
  // lseek() of a dma-buf (dma_buf_llseek()): its size at SEEK_END, 0 at
  // SEEK_SET; offset 0 only. -errno otherwise.
  int64_t Seek(int fd, int64_t offset, int whence);
  // close() of one of ours: the file's last descriptor releases it.
  void Forget(int fd);
  // dup(): `to` is the same file as `from`.
  void Alias(int from, int to);
  // 0 or more, or -errno.
  int Ioctl(int fd, unsigned long request, void* arg);
  // mmap() of one of ours: the address, or MAP_FAILED with errno.
  void* Mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset);
  // Before munmap(): a mapping of ours stops being kept coherent.
  void Unmapping(void* addr);
  // The text of a file the device makes as it is read (FakeFs::LiveText):
  // devfreq's and runtime PM's sysfs files, and a device descriptor's
  // fdinfo (the kernel's own lines, then DRM's). False: no such file.
  bool LiveText(const std::string& name, std::string* out);
  // The end of the program: queued work runs out, "end", the trace's last chunk.
  void Finish();

 private:
  struct Node {
    dev::File* file;
    dev::NodeType type;
  };
  // The twin host, made at first use; nullptr before (nothing is ours yet).
  twin::TwinHost& host();
  twin::TwinHost* made() const { return made_.load(std::memory_order_acquire); }
  void Start();
  void ForgetLocked(int fd);  // under the host's lock
  // What a handed-out descriptor is, by the program's descriptor.
  struct ExportFd {
    int key;  // the number the device handed it out as
    dev::Device::Exported::Kind kind;
  };
  const dev::Device::Exported* ExportOf(int fd, ExportFd* out = nullptr);
  // FAULTLAB_AOF: the program's BO_CREATEs it selects made alloc-on-fault
  // (config entries for the trace's header); said and ignored when it
  // cannot apply.
  void ProgramAof(const dev::DeviceConfig& cfg, std::vector<trace::ConfigEntry>* config);
  // A BO_CREATE under FAULTLAB_AOF, its argument converted for the call.
  int BoCreateAof(std::unique_lock<std::recursive_mutex>& lock, dev::File* file,
                  unsigned long request, void* arg);

  std::once_flag started_;
  std::unique_ptr<twin::TwinHost> host_;
  std::atomic<twin::TwinHost*> made_{nullptr};
  twin::ProcessMemory mem_;
  // Under the host's lock: descriptors -> files, descriptors per file.
  std::map<int, Node> fds_;
  std::map<dev::File*, int> refs_;
  // Handed-out descriptors (a dup is another descriptor of the same key),
  // and descriptors per key.
  std::map<int, ExportFd> export_fds_;
  std::map<int, int> export_refs_;
  std::atomic<size_t> exports_live_{0};  // export_fds_.size(), read without the lock
  std::unique_ptr<trace::FileSink> sink_;
  std::unique_ptr<trace::TraceWriter> writer_;
  std::unique_ptr<replay::Recorder> recorder_;
  std::optional<replay::AofSelector> aof_;  // set once, in Start()
  uint64_t aof_granularity_ = replay::kDefaultAofGranularity;
};

}  // namespace faultlab::shim

#endif  // FAULTLAB_AGENTS_SHIM_EMULATE_H_
