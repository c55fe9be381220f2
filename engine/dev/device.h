// Device: the emulated panthor device's front end — the DRM core's ioctl
// dispatch and the panthor driver's ioctls over per-open Files: argument
// checks, object lookup and errnos, then a call into the subsystem that
// does the work (docs/engine.md "The device"):
//   gem/      BOs, handles' objects, mmap offsets        (drm_gem, panthor_gem.c)
//   vm/       VA spaces, VM_BIND's split/merge, tables   (panthor_mmu.c, drm_gpuvm)
//   fault/    the MMU fault path                         (panthor_mmu.c + the series)
//   gpu/      groups, queues, jobs, the GPU running them (panthor_sched.c)
//   heap/     tiler heaps                                (panthor_heap.c)
//   policy/   how the fault path allocates
//
// Ioctl() takes what a kernel takes: an open file, the request number and a
// user pointer to the argument struct, read and written through the file's
// UserMemory seam. It follows drm_ioctl() (drm_ioctl.c): the request's
// number picks the row of the ioctl table (uapi/ioctls.h; unknown: -EINVAL),
// the argument is copied in for _IOC_WRITE requests (-EFAULT) and
// zero-extended to the kernel's struct size, the permission check runs
// (-EACCES: render nodes need DRM_RENDER_ALLOW, DRM_MASTER ioctls need the
// master), the handler runs, and the struct is copied back out for
// _IOC_READ requests whatever the handler returned. Handlers validate in the
// kernel's order and return its errno (see each handler's "Models" comment).
//
//   Device dev(DeviceConfig{.profile = *profiles::LoadProfile("g610")});
//   SimUserMemory mem;
//   File* f = dev.Open(NodeType::kRender, &mem);
//   uint64_t arg = mem.Alloc(sizeof(uapi::PanthorBoCreate));
//   mem.Put(arg, uapi::PanthorBoCreate{.size = 4096});
//   int ret = dev.Ioctl(f, uapi::kPanthorIoctlBoCreate, arg);   // 0 or -errno
#ifndef FAULTLAB_ENGINE_DEV_DEVICE_H_
#define FAULTLAB_ENGINE_DEV_DEVICE_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/base/variant.h"
#include "engine/dev/file.h"
#include "engine/events/emitter.h"
#include "engine/events/observer.h"
#include "engine/fault/fault_path.h"
#include "engine/gem/objects.h"
#include "engine/gpu/executor.h"
#include "engine/heap/tiler_heaps.h"
#include "engine/mem/memory.h"
#include "engine/mem/pressure.h"
#include "engine/mmu/mmu.h"
#include "engine/pm/power.h"
#include "engine/policy/policy.h"
#include "engine/policy/registry.h"
#include "engine/profiles/profile.h"
#include "engine/sim/scheduler.h"
#include "engine/uapi/ioctls.h"
#include "engine/uapi/panthor.h"
#include "engine/usermem/user_memory.h"
#include "engine/vm/vm.h"
#include "engine/vm/vm_registry.h"

namespace faultlab::dev {

class RecordingUserMemory;  // recording_user_memory.h

struct DeviceConfig {
  profiles::Profile profile;
  Variant variant = Variant::kSeriesFixed;
  // 0 = the profile's RAM.
  uint64_t budget_bytes = 0;
  mem::ThpMode thp = mem::ThpMode::kNever;
  // Seeds the scheduler's PRNG (jitter and interleaving choices).
  uint64_t seed = 1;
  // A name policy::Canonical() accepts ("noretry", "pool:64", ...).
  std::string policy = policy::kDefaultPolicy;
  mem::PressureConfig pressure;
  // series-v3's scheduler tick can run while the fault work is still busy and
  // miss the fault (spec 7.1): the chance, per mille, that a seed picks that
  // order (gpu::Executor::Deps).
  uint32_t v3_tick_race_permille = 500;
  // Scales the fault path's costs (IRQ entry, work-queue delay, every
  // allocation, PTE writes, the flush), per mille of the profile's: a kernel
  // build or a CPU whose fault handling is slower (or faster) than the
  // profile's. 1000 = the profile as is. The backfill injects latency
  // regressions with it (docs/cost-model.md); it is recorded in the header.
  uint32_t fault_cost_permille = 1000;
  // false: RUN_* instructions touch no memory (a board replay from its
  // recorded fault stream: the recorded faults stand for the work's
  // accesses; replay/board_faults.h). Never in a trace header.
  bool model_footprints = true;
};

// One modelled kernel defect that fired.
struct OopsRecord {
  uint64_t time_ns;
  uint64_t vm_key;
  std::string function;
  std::string message;
};

// Every subsystem's counters, for reports (Device::stats()).
struct DeviceStats {
  uint64_t ioctls = 0;
  uint64_t ioctl_errors = 0;
  uint64_t bos_created = 0;
  uint64_t bos_freed = 0;
  uint64_t aof_bytes_live = 0;
  uint64_t aof_bytes_peak = 0;
  uint64_t unmodelled_ioctls = 0;   // known to the kernel, not modelled yet (-ENOSYS)
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
  ~Device() override;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // Models drm_open(): the first opener of the primary node becomes master.
  // Tells the observer (a file event, or the legacy marker).
  File* Open(NodeType node, UserMemory* umem, Credentials creds = {});
  // Models drm_release(): handles, VMs, groups and syncobjs of the file go
  // away. Tells the observer first.
  void Close(File* file);

  // How opens and closes are told: file events, or — when a replay rebuilds
  // a trace recorded before they existed — the "open:N:render|primary" and
  // "close:N" markers such a trace has.
  void set_legacy_file_markers(bool on) { legacy_file_markers_ = on; }

  // Models drm_ioctl(). Returns 0 (or a positive value) or -errno.
  int Ioctl(File* file, uint32_t request, uint64_t arg);
  // True when the twin models `request` at `variant`'s driver version: it
  // has a handler (board replays take the outcome of the others from the
  // recording).
  static bool Models(uint32_t request, Variant variant);

  // Models mmap() of a fake offset on the file (drm_gem_mmap() ->
  // drm_gem_shmem_mmap()): the BO's pages are all populated now (for an
  // alloc-on-fault BO too). Returns 0 or -errno; `*populated` counts new frames.
  int MmapBo(File* file, uint64_t offset, uint64_t length, bool shared, uint64_t* populated);
  // Models panthor_mmap() at or above the file's user MMIO offset
  // (panthor_device_mmap_io()): only the LATEST_FLUSH_ID page maps — one
  // page, shared, neither writable nor executable; anything else is
  // -EINVAL. Not recorded: it changes nothing the twin models.
  int MmapUserMmio(File* file, uint64_t offset, uint64_t length, bool shared, bool writable,
                   bool executable);
  // `offset` of `file` is in its user MMIO region (MmapUserMmio), not a BO's.
  static bool InUserMmio(const File* file, uint64_t offset) {
    return offset >= file->user_mmio_offset();
  }
  // What the LATEST_FLUSH_ID page reads (the u32 at its start).
  uint32_t latest_flush_id() const { return mmu_.latest_flush_id(); }
  // The file every BO's bytes live in (gem/content.h): a CPU map of BO
  // offset x maps it at the BO's content_at() + x. -1 without one.
  int content_fd() const { return objects_.content().fd(); }
  // Events are being recorded (an observer is set).
  bool recording() const { return out_.observed(); }
  // The BO whose fake offset range holds `offset`, if `file` may map it.
  std::shared_ptr<gem::Bo> BoAtOffset(File* file, uint64_t offset, uint64_t length);

  // Descriptors the device hands out (fd_ioctls.cc): a syncobj's fd
  // (SYNCOBJ_HANDLE_TO_FD), a sync_file of a fence (EXPORT_SYNC_FILE) and a
  // dma-buf of a BO (PRIME_HANDLE_TO_FD). The program's descriptor number
  // is the key: the host makes the real descriptor and reserves its number
  // before the call (a replay reserves the recorded one); without a
  // reservation the device numbers its own, from kFirstOwnFd.
  struct Exported {
    enum class Kind { kSyncobj, kSyncFile, kDmaBuf };
    Kind kind;
    std::shared_ptr<sync::Syncobj> syncobj;  // kSyncobj
    std::shared_ptr<sync::Fence> fence;      // kSyncFile
    std::shared_ptr<gem::Bo> bo;             // kDmaBuf
  };
  static constexpr int32_t kFirstOwnFd = 1 << 20;
  // The descriptor the next export returns (a number already exported is
  // replaced: the program closed and reused it).
  void ReserveExportFd(int32_t fd) { reserved_fd_ = fd; }
  // What `fd` is, if the device handed it out; nullptr otherwise.
  const Exported* FindExport(int32_t fd) const;
  // The program closed the descriptor's last copy: its references go
  // (a dma-buf's BO may be freed). An input of the trace (a file event).
  void CloseExport(int32_t fd);
  // A sync_file's state as SYNC_IOC_FILE_INFO says it: 1 signalled, 0
  // active, -errno signalled with an error.
  static int SyncFileStatus(const Exported& e);
  // mmap() of a dma-buf (dma_buf_mmap() -> drm_gem_shmem_mmap()): the BO's
  // pages are populated; recorded as a CPU map of file 0 whose handle is
  // the descriptor. 0 or -errno.
  int MmapExport(int32_t fd, uint64_t offset, uint64_t length, bool shared);

  // What /proc/<pid>/fdinfo of a device file shows (drm_show_fdinfo(),
  // panthor_show_fdinfo()): the file's client id, its groups' time on the
  // GPU, and the memory of the BOs it has handles to — all of it, the part
  // other files or a dma-buf share, the part with pages.
  struct FileUsage {
    uint64_t client_id = 0;
    uint64_t engine_ns = 0;
    uint64_t total_bytes = 0, shared_bytes = 0, resident_bytes = 0;
  };
  FileUsage UsageOf(const File* file) const;

  // Models drm_dev_unplug(): every later ioctl is -ENODEV.
  void Unplug() { unplugged_ = true; }

  // The live device (agents/twin, docs/shim.md "The live device"): the GPU
  // runs in host time between the program's calls. One step: the CPU's
  // writes noted since the last one become the GPU's to see (recorded with
  // the step at their mmap offsets, so that a replay puts them back here),
  // every queue blocked on a SYNC_WAIT looks again, and the GPU runs to
  // `until_ns` of virtual time. The step is an input of the trace
  // (EVENT_GPU_RUN); a replay makes it at the same point.
  void RunGpu(uint64_t until_ns);
  // The GPU runs until `done()` holds or it has nothing left to run, and
  // that is all: not an input of the trace (a board replay paces the twin's
  // GPU with what the board's program saw).
  void RunGpuUntil(const std::function<bool()>& done) {
    sched_.RunUntil(done, sim::Scheduler::kNever);
  }
  // When the next GPU work is due (virtual ns; kNoWork: none).
  static constexpr uint64_t kNoWork = sim::Scheduler::kNever;
  uint64_t next_work_ns() { return sched_.NextEventNs(); }
  // A queue is blocked on a SYNC_WAIT whose condition holds now: a step
  // would release it.
  bool SyncWaitReleasable() { return executor_.sync_waiting() && executor_.SyncWaitReleasable(); }
  // A queue is blocked on a SYNC_WAIT: only a memory write releases it.
  bool sync_waiting() const { return executor_.sync_waiting(); }
  // The CPU wrote `bytes` at `offset` of the device's mmap offset space (a
  // BO's fake offset plus the offset in the BO): NoteCpuWrite on that BO.
  // False: no BO there, or the bytes run past its end. A replay's.
  bool NoteCpuWriteAt(uint64_t offset, absl::string_view bytes);
  // Every range of a BO the GPU stores to from now on is appended to
  // `*log` (nullptr: none) — the twin host keeps its shadows of the CPU's
  // bytes with it.
  using GpuWrites = std::vector<gpu::GpuWrite>;
  void LogGpuWrites(GpuWrites* log) { executor_.LogWrites(log); }

  // Virtual time: the scheduler's clock.
  uint64_t now_ns() const { return sched_.now_ns(); }
  sim::Scheduler& scheduler() { return sched_; }
  // Runs pending work (async binds, later GPU jobs) to completion.
  void RunAll() { sched_.RunAll(); }

  void OnOops(uint64_t vm_key, const char* function, const std::string& message) override;
  const std::vector<OopsRecord>& oopses() const { return oopses_; }

  // Every event goes to `observer` (nullptr: none).
  void set_observer(events::Observer* observer) { out_.set_observer(observer); }
  // Each fault's work timing (fault::FaultPath::Timing).
  void set_fault_timing_observer(std::function<void(const fault::FaultPath::Timing&)> fn) {
    fault_.set_timing_observer(std::move(fn));
  }
  // Emits a marker / state-hash event (workloads, the recorder).
  void EmitMarker(trace::MarkerType type, uint64_t id, absl::string_view label);
  uint64_t EmitStateHash();
  // The canonical hash of the device: every VM, BO population, memory use.
  uint64_t StateHash() const;

  // Runs a job of access ranges on a group's queue — what GROUP_SUBMIT's
  // command stream amounts to once interpreted — signalling the binary
  // syncobj `signal_syncobj` (0: none) at its end. A tiler-OOM range is
  // recorded with access type UNSPECIFIED. Returns 0 or -errno; `*job_seq`
  // is the job's sequence number. The submission is an input of the trace.
  int SubmitAccessJob(File* file, uint32_t group_handle, uint32_t queue,
                      std::vector<gpu::GpuAccess> accesses, uint32_t signal_syncobj,
                      uint64_t* job_seq);
  // A board replay from its recorded faults (replay/board_faults.h): the
  // first job of the last successful GROUP_SUBMIT touches `accesses` first,
  // before its stream. False when that job has begun (or there is none).
  bool PrependAccesses(std::vector<gpu::GpuAccess> accesses);
  // The CPU's write of `bytes` at `va` in the VM of `file`'s group `group`,
  // through its mappings (not the GPU's page tables): what a program did
  // through its BO mappings before a submit (the replayer re-does the
  // recorded stream words with it). Returns the bytes written. With `note`,
  // the write also counts as the CPU's (NoteCpuWrite), so that the submit
  // records it again.
  uint64_t WriteGpuVa(File* file, uint32_t group, uint64_t va, absl::string_view bytes,
                      bool note = false);
  // The device shim's CPU wrote `bytes` at `offset` of `bo` through a
  // mapping. The bytes go into the BO now; the next GROUP_SUBMIT records
  // them (at their GPU addresses in the submitting group's VM) with its
  // stream, or the next live step (RunGpu) with it, whichever comes first,
  // so that a replay puts them back before the GPU reads them.
  void NoteCpuWrite(const std::shared_ptr<gem::Bo>& bo, uint64_t offset, std::string bytes);
  // Whether `n` bytes at `offset` of `bo` have pages for the CPU's write,
  // populating the BO as a mapping would when they do not.
  bool CpuBacked(gem::Bo& bo, uint64_t offset, uint64_t n);

  const mmu::Mmu& mmu() const { return mmu_; }
  const heap::TilerHeaps& heaps() const { return heaps_; }
  // Runtime PM and devfreq at `now_ns` of virtual time (engine/pm): what
  // sysfs shows. Reading changes nothing the replay sees.
  pm::Power::Snapshot PowerAt(uint64_t now_ns) {
    return power_.At(std::max(now_ns, sched_.now_ns()));
  }
  const mem::Pressure* pressure() const { return pressure_.get(); }
  // The kernel log lines the model printed (unhandled faults, fatal streams).
  const std::vector<std::string>& kernel_log() const { return out_.kernel_log(); }

  const DeviceConfig& config() const { return config_; }
  const profiles::Profile& profile() const { return config_.profile; }
  Variant variant() const { return config_.variant; }
  mem::MemoryModel& memory() { return memory_; }
  DeviceStats stats() const;
  size_t live_bos() const { return objects_.all().size(); }

  // Test hooks: the BO behind a handle, a VM by id, a group by handle.
  std::shared_ptr<gem::Bo> LookupBo(File* file, uint32_t handle) const;
  std::shared_ptr<vm::Vm> LookupVm(File* file, uint32_t id) const;
  std::shared_ptr<gpu::Group> LookupGroup(File* file, uint32_t handle) const;

  // Every cross-object invariant (handles point at live BOs, accounting
  // balances); "" when all hold.
  std::string CheckInvariants() const;

 private:
  using Handler = int (Device::*)(File&, void*);
  // The handler of each ioctl the twin models (handlers.cc); nullptr for
  // the rest.
  static const std::array<Handler, static_cast<size_t>(uapi::IoctlId::kCount)>& Handlers();
  static const uapi::IoctlDesc* Known(uint32_t request, Variant variant);

  // DRM core (drm_core.cc).
  int IoctlVersion(File& f, void* data);
  int IoctlGetUnique(File& f, void* data);
  int IoctlSetVersion(File& f, void* data);
  int IoctlGemClose(File& f, void* data);
  int IoctlGetCap(File& f, void* data);
  int IoctlSetClientCap(File& f, void* data);
  int NotModelled(File& f, void* data);
  // Syncobjs (syncobj_ioctls.cc).
  int IoctlSyncobjCreate(File& f, void* data);
  int IoctlSyncobjDestroy(File& f, void* data);
  int IoctlSyncobjWait(File& f, void* data);
  int IoctlSyncobjTimelineWait(File& f, void* data);
  int IoctlSyncobjReset(File& f, void* data);
  int IoctlSyncobjSignal(File& f, void* data);
  int IoctlSyncobjTimelineSignal(File& f, void* data);
  int IoctlSyncobjQuery(File& f, void* data);
  int IoctlSyncobjTransfer(File& f, void* data);
  // Descriptors (fd_ioctls.cc).
  int IoctlSyncobjHandleToFd(File& f, void* data);
  int IoctlSyncobjFdToHandle(File& f, void* data);
  int IoctlPrimeHandleToFd(File& f, void* data);
  int IoctlPrimeFdToHandle(File& f, void* data);
  // Hands out a descriptor for `e`: the reserved number, or the device's own.
  int32_t Export(Exported e);
  // panthor: queries, VMs (vm_ioctls.cc, vm_bind.cc), BOs (bo_ioctls.cc),
  // groups (group_ioctls.cc), tiler heaps (heap_ioctls.cc), the user MMIO
  // region (user_mmio.cc).
  int IoctlDevQuery(File& f, void* data);
  int IoctlVmCreate(File& f, void* data);
  int IoctlVmDestroy(File& f, void* data);
  int IoctlVmGetState(File& f, void* data);
  int IoctlVmBind(File& f, void* data);
  int IoctlBoCreate(File& f, void* data);
  int IoctlBoMmapOffset(File& f, void* data);
  int IoctlGroupCreate(File& f, void* data);
  int IoctlGroupDestroy(File& f, void* data);
  int IoctlGroupSubmit(File& f, void* data);
  int IoctlGroupGetState(File& f, void* data);
  int IoctlTilerHeapCreate(File& f, void* data);
  int IoctlTilerHeapDestroy(File& f, void* data);
  int IoctlBoSetLabel(File& f, void* data);
  int IoctlSetUserMmioOffset(File& f, void* data);
  int IoctlBoSync(File& f, void* data);
  int IoctlBoQueryInfo(File& f, void* data);

  // Helpers.
  int Permit(const File& f, uint32_t flags) const;
  int CopyString(File& f, const std::string& value, uint64_t* len, uint64_t ptr);
  int SyncobjArrayFind(File& f, uint64_t user_handles, uint32_t count,
                       std::vector<sync::Syncobj*>* out);
  int SyncobjWaitCommon(const std::vector<sync::Syncobj*>& objs,
                        const std::vector<uint64_t>& points, uint32_t flags, int64_t timeout_ns,
                        uint32_t* first_signaled);
  // A syncobj point an earlier job of the same GROUP_SUBMIT signals, and
  // that job's fence.
  struct InCallSignal {
    uint32_t handle;
    uint64_t point;
    std::shared_ptr<sync::Fence> fence;
  };
  // panthor_submit_ctx_add_job()'s sync ops: the fences a job waits for and
  // the syncobjs (and points) it signals. A wait on a point an earlier job
  // of the same call signals (`earlier`) waits for that job.
  int ResolveSyncOps(File& f, const std::vector<uapi::PanthorSyncOp>& syncs,
                     std::vector<std::shared_ptr<sync::Fence>>* waits,
                     std::vector<std::pair<sync::Syncobj*, uint64_t>>* signals,
                     const std::vector<InCallSignal>& earlier = {});
  int VmBindSync(File& f, uapi::PanthorVmBind* args, vm::Vm& vm);
  int VmBindAsync(File& f, uapi::PanthorVmBind* args, std::shared_ptr<vm::Vm> vm);
  int PrepareBindOp(File& f, vm::Vm& vm, const uapi::PanthorVmBindOp& op, vm::OpCtx* ctx);
  // GROUP_SUBMIT's record of a stream: its words as the CPU left them and
  // the CPU's writes since the last submit, at their addresses in the VM.
  void EmitCsSubmit(const gpu::Job& job, uint32_t group_handle);
  void DestroyVm(vm::Vm& vm);
  void DestroyGroup(const std::shared_ptr<gpu::Group>& group);
  uint64_t CurrentGpuTimestamp() const;
  void EmitFile(const File& file, bool close);
  // One ioctl event: the call, its result, its argument in and out, and the
  // user copies it made (`copies` may be null: none).
  void EmitIoctl(const File& file, uint32_t cmd, int ret, absl::string_view arg_in,
                 absl::string_view arg_out, RecordingUserMemory* copies);
  // A failed allocation of ours, as a trace event.
  void OnAllocFailure(mem::AllocClass cls, mem::Owner owner, uint32_t pages);

  // The model, in construction order (members are destroyed in reverse:
  // everything that holds frames or BOs goes before the memory and the
  // GEM objects).
  DeviceConfig config_;  // the profile's fault-path costs scaled by fault_cost_permille
  mem::MemoryModel memory_;
  gem::Objects objects_;
  sim::Scheduler sched_;
  events::Emitter out_;
  vm::VmRegistry vms_;
  mmu::Mmu mmu_;
  std::unique_ptr<policy::FaultPolicy> policy_;
  std::shared_ptr<gpu::Job> last_submitted_;  // PrependAccesses()
  fault::FaultPath fault_;
  heap::TilerHeaps heaps_;
  pm::Power power_;
  gpu::Executor executor_;
  std::unique_ptr<mem::Pressure> pressure_;

  // Open files in opening order (ids ascending); the master, if any.
  std::vector<std::unique_ptr<File>> files_;
  uint32_t next_file_id_ = 1;
  File* master_ = nullptr;
  bool unplugged_ = false;
  bool legacy_file_markers_ = false;
  // Per VM key: the fence of the last job queued on its bind queue (async
  // VM_BIND jobs run in order).
  std::map<uint64_t, std::shared_ptr<sync::Fence>> bind_queue_tail_;
  // The CPU's writes through mappings since the last GROUP_SUBMIT (kept only
  // while observed: the submit's CS event records them).
  struct CpuWrite {
    std::weak_ptr<gem::Bo> bo;
    uint64_t offset;
    std::string bytes;
  };
  std::vector<CpuWrite> cpu_writes_;
  std::map<int32_t, Exported> exports_;  // by descriptor
  int32_t reserved_fd_ = -1;
  int32_t next_own_fd_ = kFirstOwnFd;
  std::vector<OopsRecord> oopses_;
  uint64_t ioctls_ = 0;
  uint64_t ioctl_errors_ = 0;
  uint64_t unmodelled_ioctls_ = 0;
  uint64_t waits_never_ending_ = 0;
};

}  // namespace faultlab::dev

#endif  // FAULTLAB_ENGINE_DEV_DEVICE_H_
