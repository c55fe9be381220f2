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
#include "engine/dev/gpu.h"
#include "engine/dev/observer.h"
#include "engine/dev/profile.h"
#include "engine/gem/bo.h"
#include "engine/gem/mmap_offset.h"
#include "engine/mem/memory.h"
#include "engine/mem/pressure.h"
#include "engine/mmu/mmu.h"
#include "engine/sim/scheduler.h"
#include "engine/sync/syncobj.h"
#include "engine/usermem/user_memory.h"
#include "engine/vm/vm.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {

class RecordingUserMemory;  // recording_user_memory.h

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
  FaultPolicy policy;
  mem::PressureConfig pressure;
  // series-v3's scheduler tick can run while the fault work is still busy and
  // miss the fault (spec 7.1): the chance, per mille, that a seed picks that
  // order. Only the interleaving is chosen; both orders are legal.
  uint32_t v3_tick_race_permille = 500;
  // Scales the fault path's costs (IRQ entry, work-queue delay, every
  // allocation, PTE writes, the flush), per mille of the profile's: a kernel
  // build or a CPU whose fault handling is slower (or faster) than the
  // profile's. 1000 = the profile as is. The backfill injects latency
  // regressions with it (docs/cost-model.md); it is recorded in the header.
  uint32_t fault_cost_permille = 1000;
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
  std::map<uint32_t, std::shared_ptr<Group>> groups_;                // panthor_group_pool
};

struct DeviceStats {
  uint64_t ioctls = 0;
  uint64_t ioctl_errors = 0;
  uint64_t bos_created = 0;
  uint64_t bos_freed = 0;
  // Bytes of live alloc-on-fault BOs (what is promised, not what is backed),
  // now and at their peak: the numerator of the report's overcommit ratio.
  uint64_t aof_bytes_live = 0;
  uint64_t aof_bytes_peak = 0;
  uint64_t unmodelled_ioctls = 0;  // known to the kernel, not modelled yet (-ENOSYS)
  uint64_t waits_never_ending = 0;  // infinite waits nothing could end (-ETIME)
  uint64_t jobs_submitted = 0;
  uint64_t jobs_completed = 0;
  uint64_t jobs_failed = 0;
  uint64_t faults = 0;
  uint64_t faults_handled = 0;
  uint64_t faults_degraded = 0;
  uint64_t faults_failed = 0;
  uint64_t irqs = 0;
  uint64_t recycled_slot_irqs = 0;
  uint64_t groups_killed = 0;
  uint64_t heap_grows = 0;
  uint64_t heap_grow_fallbacks = 0;
  uint64_t v3_tick_missed_fault = 0;
  uint64_t map_beyond_vma = 0;  // series-v3 map_on_demand overrun, clamped
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

  // Every event goes to `observer` (nullptr: none).
  void set_observer(Observer* observer) { observer_ = observer; }
  // Emits a marker / state-hash event (workloads, the recorder).
  void EmitMarker(trace::MarkerType type, uint64_t id, absl::string_view label);
  uint64_t EmitStateHash();
  // The canonical hash of the device: every VM, BO population, memory use.
  uint64_t StateHash() const;

  // Runs a job of access ranges on a group's queue — what GROUP_SUBMIT's
  // command stream amounts to once interpreted — signalling the binary syncobj
  // `signal_syncobj` (0: none) at its end. A tiler-OOM range is recorded with
  // access type UNSPECIFIED. Returns 0 or -errno; `*job_seq` is the job's
  // sequence number. The submission is an input of the trace.
  int SubmitAccessJob(File* file, uint32_t group_handle, uint32_t queue,
                      std::vector<GpuAccess> accesses, uint32_t signal_syncobj,
                      uint64_t* job_seq);
  // A group by handle (tests).
  std::shared_ptr<Group> LookupGroup(File* file, uint32_t handle) const;
  // The CPU's write of `bytes` at `va` in the VM of `file`'s group `group`,
  // through its mappings (not the GPU's page tables): what a program did
  // through its BO mappings before a submit (the replayer re-does the
  // recorded stream words with it). Returns the bytes written.
  // With `note`, the write also counts as the CPU's (NoteCpuWrite): the
  // replayer puts recorded CPU writes back this way, so that the submit
  // records them again.
  uint64_t WriteGpuVa(File* file, uint32_t group, uint64_t va, absl::string_view bytes, bool note = false);
  // The device shim's CPU wrote `bytes` at `offset` of `bo` through a
  // mapping. The bytes go into the BO now; the next GROUP_SUBMIT records
  // them (at their GPU addresses in the submitting group's VM) with its
  // stream, so that a replay puts them back before the stream runs.
  void NoteCpuWrite(const std::shared_ptr<gem::Bo>& bo, uint64_t offset, std::string bytes);
  const mmu::Mmu& mmu() const { return mmu_; }
  const mem::Pressure* pressure() const { return pressure_.get(); }
  // The kernel log lines the model printed (unhandled faults).
  const std::vector<std::string>& kernel_log() const { return kernel_log_; }

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
  int IoctlGroupCreate(File& f, void* data);
  int IoctlGroupDestroy(File& f, void* data);
  int IoctlGroupSubmit(File& f, void* data);
  int IoctlGroupGetState(File& f, void* data);
  int IoctlTilerHeapCreate(File& f, void* data);
  int IoctlTilerHeapDestroy(File& f, void* data);
  // Sync ops of a job (panthor_submit_ctx_add_job / collect_signal_ops).
  int ResolveSyncOps(File& f, const std::vector<uapi::PanthorSyncOp>& syncs,
                     std::vector<std::shared_ptr<sync::Fence>>* waits,
                     std::vector<std::pair<sync::Syncobj*, uint64_t>>* signals);
  int QueueJob(std::shared_ptr<Job> job);
  // Executor.
  void TryStart(Queue& q);
  void StartJob(const std::shared_ptr<Job>& job);
  void RunJob(const std::shared_ptr<Job>& job);
  void FinishJob(const std::shared_ptr<Job>& job, int error);
  void KillGroup(const std::shared_ptr<Group>& group, uint32_t fatal_queues);
  void RetryWaitingForAs();
  // Fault path.
  void RaiseFault(const std::shared_ptr<Job>& job, uint32_t status, uint64_t va);
  // Runs a job's command stream (cs.cc): instructions until the stream ends,
  // a fault stalls it, or the queue turns fatal.
  void RunCs(const std::shared_ptr<Job>& job);
  struct CpuWrite {
    std::weak_ptr<gem::Bo> bo;
    uint64_t offset;
    std::string bytes;
  };
  std::vector<CpuWrite> cpu_writes_;  // since the last GROUP_SUBMIT
  // A CS memory access of `n` bytes at `va` through the VM's page tables:
  // 0 when every page translates (then the bytes move), else the fault
  // status (and `*fault_va`) for RaiseFault.
  uint32_t CsAccess(Job& job, uint64_t va, void* data, uint32_t n, bool write, uint64_t* fault_va);
  void MmuIrq();
  void FaultWork(std::shared_ptr<vm::Vm> vm, int as);
  struct FaultResult;
  FaultResult HandleFaultLocked(vm::Vm& vm, uint64_t addr, uint32_t status);
  int MapOnDemand(vm::Vm& vm, const vm::Vma& vma, uint64_t offset, uint64_t size,
                  mem::AllocClass page_cls, mem::AllocClass other_cls, bool dummy_ok,
                  FaultResult* r);
  void FaultDone(std::shared_ptr<vm::Vm> vm, int as, int ret, trace::FaultOutcome outcome);
  void ReportMmuFault(uint64_t vm_key, uint64_t at_ns);
  // Tiler heaps.
  int PreFaultRange(vm::Vm& vm, uint64_t iova, uint64_t size, mem::AllocClass page_cls,
                    mem::AllocClass other_cls, gem::PopulateStats* stats);
  uint64_t HeapGrow(const std::shared_ptr<Job>& job, uint64_t ctx_va);
  uint64_t AllocKernelVa(vm::Vm& vm, uint64_t size);
  // Events.
  void Emit(trace::Event& e);
  // One ioctl event: the call, its result, its argument in and out, and the
  // user copies it made (`copies` may be null: none).
  void EmitIoctl(const File& file, uint32_t cmd, int ret, absl::string_view arg_in,
                 absl::string_view arg_out, RecordingUserMemory* copies);
  uint64_t Cost(const CostRange& r);
  mem::AllocClass FaultPageClass() const;
  std::shared_ptr<vm::Vm> VmByKey(uint64_t key) const;
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
  void DestroyVm(vm::Vm& vm);
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
  mmu::Mmu mmu_;
  std::unique_ptr<mem::Pressure> pressure_;
  Observer* observer_ = nullptr;
  std::vector<std::string> kernel_log_;
  // Fault state per VM key (struct panthor_vm's fault.{work,status,addr}).
  struct VmFault {
    bool work_queued = false;
    bool work_busy = false;
    uint32_t status = 0;
    uint64_t addr = 0;
    uint64_t op_lock_until = 0;  // vm->op_lock held by fault work until then
  };
  std::map<uint64_t, VmFault> vm_faults_;
  std::map<uint64_t, std::weak_ptr<vm::Vm>> vms_by_key_;
  std::map<int, std::vector<std::shared_ptr<Job>>> stalled_;  // by AS
  std::map<int, uint64_t> fault_raised_ns_;                   // by AS
  std::deque<std::shared_ptr<Job>> waiting_for_as_;
  bool irq_pending_ = false;
  // dummy-page policy: table pages kept in reserve for degraded mappings,
  // refilled with blocking allocation at each submit.
  std::vector<uint32_t> reserve_tables_;
  static constexpr size_t kReserveTables = 8;
  uint64_t next_job_seq_ = 1;
  // Heaps by heap-context VA; heap ids per VM (handle = vm_id << 16 | id).
  std::map<uint64_t, Heap> heaps_;
  std::map<uint64_t, uint64_t> kernel_va_next_;  // per VM key: next free kernel VA
};

}  // namespace faultlab::dev

#endif  // FAULTLAB_ENGINE_DEV_DEVICE_H_
