// Device: the emulated panthor device — the DRM core's ioctl dispatch and the
// panthor driver's ioctls, over per-open Files.
//
// Ioctl() takes what a kernel takes: an open file, the request number and a
// user pointer to the argument struct, read and written through the file's
// UserMemory seam. It follows drm_ioctl() (drm_ioctl.c) exactly: the request's
// number picks the ioctl (driver range 0x40..0x9f, else the core table), the
// argument is copied in for _IOC_WRITE requests (-EFAULT) and zero-extended to
// the kernel's struct size, the permission check runs (-EACCES: render nodes
// need DRM_RENDER_ALLOW, DRM_MASTER ioctls need the master), the handler runs,
// and the struct is copied back out for _IOC_READ requests whatever the
// handler returned. Handlers validate in the kernel's order and return its
// errno (see each handler's "Models" comment).
//
//   Device dev(DeviceConfig{.profile = *LoadProfile("g610")});
//   SimUserMemory mem;
//   File* f = dev.Open(NodeType::kRender, &mem);
//   uint64_t arg = mem.Alloc(sizeof(uapi::PanthorBoCreate));
//   mem.Put(arg, uapi::PanthorBoCreate{.size = 4096});
//   int ret = dev.Ioctl(f, uapi::kPanthorIoctlBoCreate, arg);   // 0 or -errno
#ifndef FAULTLAB_ENGINE_DEV_DEVICE_H_
#define FAULTLAB_ENGINE_DEV_DEVICE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/base/variant.h"
#include "engine/dev/profile.h"
#include "engine/gem/bo.h"
#include "engine/gem/mmap_offset.h"
#include "engine/mem/memory.h"
#include "engine/sim/scheduler.h"
#include "engine/sync/syncobj.h"
#include "engine/usermem/user_memory.h"
#include "engine/vm/vm.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {

using faultlab::ParseVariant;
using faultlab::Variant;
using faultlab::VariantName;

struct DeviceConfig {
  Profile profile;
  Variant variant = Variant::kSeriesFixed;
  // 0 = the profile's RAM.
  uint64_t budget_bytes = 0;
  mem::ThpMode thp = mem::ThpMode::kNever;
  // Seeds the scheduler's PRNG (jitter and interleaving choices).
  uint64_t seed = 1;
};

// Virtual-time costs of the bind path, in ns (docs/cost-model.md; Engine C
// moves them into the profiles with the rest of the cost model).
struct BindCosts {
  uint64_t job_ns = 2'000;    // drm_sched run_job + panthor_vm_exec_op overhead
  uint64_t per_op_ns = 300;   // one sm_step
};

// One modelled kernel defect that fired.
struct OopsRecord {
  uint64_t time_ns;
  uint64_t vm_key;
  std::string function;
  std::string message;
};

enum class NodeType { kPrimary, kRender };  // /dev/dri/card0, /dev/dri/renderD128

// What capable() would answer for the opening process.
struct Credentials {
  bool cap_sys_nice = false;
  bool cap_sys_admin = false;
};

// One open of a DRM node (struct drm_file + struct panthor_file).
class File {
 public:
  uint32_t id() const { return id_; }
  NodeType node() const { return node_; }
  bool is_master() const { return master_; }
  UserMemory& user_memory() const { return *umem_; }
  size_t handle_count() const { return handles_.size(); }
  size_t vm_count() const { return vms_.size(); }
  size_t syncobj_count() const { return syncobjs_.size(); }

 private:
  friend class Device;
  uint32_t id_ = 0;
  NodeType node_ = NodeType::kRender;
  bool master_ = false;
  Credentials creds_;
  UserMemory* umem_ = nullptr;
  std::map<uint32_t, std::shared_ptr<gem::Bo>> handles_;            // object_idr
  std::map<uint32_t, std::shared_ptr<vm::Vm>> vms_;                 // panthor_vm_pool
  std::map<uint32_t, std::unique_ptr<sync::Syncobj>> syncobjs_;     // syncobj_idr
};

struct DeviceStats {
  uint64_t ioctls = 0;
  uint64_t ioctl_errors = 0;
  uint64_t bos_created = 0;
  uint64_t bos_freed = 0;
  uint64_t unmodelled_ioctls = 0;  // known to the kernel, not modelled yet (-ENOSYS)
  uint64_t waits_never_ending = 0;  // infinite waits nothing could end (-ETIME)
};

class Device : public vm::OopsSink {
 public:
  explicit Device(DeviceConfig config);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // Models drm_open(): the first opener of the primary node becomes master.
  File* Open(NodeType node, UserMemory* umem, Credentials creds = {});
  // Models drm_release(): handles, VMs and syncobjs of the file go away.
  void Close(File* file);

  // Models drm_ioctl(). Returns 0 (or a positive value) or -errno.
  int Ioctl(File* file, uint32_t request, uint64_t arg);

  // Models mmap() of a fake offset on the file (drm_gem_mmap() ->
  // drm_gem_shmem_mmap()): the BO's pages are all populated now (for an
  // alloc-on-fault BO too). Returns 0 or -errno; `*populated` counts new frames.
  int MmapBo(File* file, uint64_t offset, uint64_t length, bool shared, uint64_t* populated);
  // The BO whose fake offset range holds `offset` (for the shim's CPU access).
  std::shared_ptr<gem::Bo> BoAtOffset(File* file, uint64_t offset, uint64_t length);

  // Models drm_dev_unplug(): every later ioctl is -ENODEV.
  void Unplug() { unplugged_ = true; }

  // Virtual time: the scheduler's clock.
  uint64_t now_ns() const { return sched_.now_ns(); }
  sim::Scheduler& scheduler() { return sched_; }
  // Runs pending work (async binds, later GPU jobs) to completion.
  void RunAll() { sched_.RunAll(); }

  void OnOops(uint64_t vm_key, const char* function, const std::string& message) override;
  const std::vector<OopsRecord>& oopses() const { return oopses_; }

  const DeviceConfig& config() const { return config_; }
  const Profile& profile() const { return config_.profile; }
  Variant variant() const { return config_.variant; }
  mem::MemoryModel& memory() { return memory_; }
  const DeviceStats& stats() const { return stats_; }
  size_t live_bos() const { return bos_.size(); }

  // Test hooks: the BO behind a handle, a VM by id.
  std::shared_ptr<gem::Bo> LookupBo(File* file, uint32_t handle) const;
  std::shared_ptr<vm::Vm> LookupVm(File* file, uint32_t id) const;

  // Every cross-object invariant (handles point at live BOs, accounting
  // balances); "" when all hold.
  std::string CheckInvariants() const;

 private:
  struct IoctlDesc;
  using Handler = int (Device::*)(File&, void*);
  static const IoctlDesc* FindIoctl(uint32_t nr);

  // DRM core.
  int IoctlVersion(File& f, void* data);
  int IoctlGetUnique(File& f, void* data);
  int IoctlSetVersion(File& f, void* data);
  int IoctlGemClose(File& f, void* data);
  int IoctlGetCap(File& f, void* data);
  int IoctlSetClientCap(File& f, void* data);
  int IoctlSyncobjCreate(File& f, void* data);
  int IoctlSyncobjDestroy(File& f, void* data);
  int IoctlSyncobjWait(File& f, void* data);
  int IoctlSyncobjTimelineWait(File& f, void* data);
  int IoctlSyncobjReset(File& f, void* data);
  int IoctlSyncobjSignal(File& f, void* data);
  int IoctlSyncobjTimelineSignal(File& f, void* data);
  int IoctlSyncobjQuery(File& f, void* data);
  int IoctlSyncobjTransfer(File& f, void* data);
  int NotModelled(File& f, void* data);
  // panthor.
  int IoctlDevQuery(File& f, void* data);
  int IoctlVmCreate(File& f, void* data);
  int IoctlVmDestroy(File& f, void* data);
  int IoctlVmGetState(File& f, void* data);
  int IoctlVmBind(File& f, void* data);
  int VmBindSync(File& f, uapi::PanthorVmBind* args, vm::Vm& vm);
  int VmBindAsync(File& f, uapi::PanthorVmBind* args, std::shared_ptr<vm::Vm> vm);
  int PrepareBindOp(File& f, vm::Vm& vm, const uapi::PanthorVmBindOp& op, vm::OpCtx* ctx);
  int IoctlBoCreate(File& f, void* data);
  int IoctlBoMmapOffset(File& f, void* data);

  // Helpers.
  int Permit(const File& f, uint32_t flags) const;
  int CopyString(File& f, const std::string& value, uint64_t* len, uint64_t ptr);
  int SyncobjArrayFind(File& f, uint64_t user_handles, uint32_t count,
                       std::vector<sync::Syncobj*>* out);
  int SyncobjWaitCommon(File& f, const std::vector<sync::Syncobj*>& objs,
                        const std::vector<uint64_t>& points, uint32_t flags, int64_t timeout_ns,
                        uint32_t* first_signaled);
  uint32_t AllocHandle(const std::map<uint32_t, std::shared_ptr<gem::Bo>>& m) const;
  void ReleaseBo(std::shared_ptr<gem::Bo>& bo);
  uint64_t CurrentGpuTimestamp() const;

  DeviceConfig config_;
  mem::MemoryModel memory_;
  gem::MmapOffsets mmap_offsets_;
  std::vector<std::unique_ptr<File>> files_;
  std::map<uint64_t, std::weak_ptr<gem::Bo>> bos_;  // by BO id: live objects
  uint32_t next_file_id_ = 1;
  uint64_t next_bo_id_ = 1;
  uint64_t next_vm_key_ = 1;
  File* master_ = nullptr;
  bool unplugged_ = false;
  sim::Scheduler sched_;
  BindCosts bind_costs_;
  // Per VM (by key): when its bind queue is next free (jobs run in order).
  std::map<uint64_t, std::shared_ptr<sync::Fence>> bind_queue_tail_;
  std::vector<OopsRecord> oopses_;
  DeviceStats stats_;
};

}  // namespace faultlab::dev

#endif  // FAULTLAB_ENGINE_DEV_DEVICE_H_
