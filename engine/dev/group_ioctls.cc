// Groups and submissions (panthor_drv.c, panthor_sched.c): GROUP_CREATE,
// GROUP_DESTROY, GROUP_GET_STATE, GROUP_SUBMIT, and access-range jobs — the
// argument checks, lookups and errnos; gpu::Executor runs what they queue.
#include <algorithm>

#include "engine/base/bits.h"
#include "engine/dev/device.h"
#include "engine/dev/uobj.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT: the ABI's names read best unqualified here

namespace {

constexpr uint32_t kMaxGroupsPerFile = 128;  // MAX_GROUPS_PER_POOL
constexpr uint8_t kMaxQueuePriority = 15;    // PANTHOR_MAX_QUEUE_PRIORITY

// group_priority_permit() and the core masks' checks of panthor_group_create().
int CheckGroupArgs(const PanthorGroupCreate& a, const PanthorGpuInfo& gi, bool privileged) {
  // Beyond REALTIME -EINVAL; HIGH/REALTIME need CAP_SYS_NICE or the DRM master.
  if (a.priority > kPanthorGroupPriorityRealtime) return -kEINVAL;
  if (a.priority >= kPanthorGroupPriorityHigh && !privileged) return -kEACCES;
  if (a.queues.count == 0 || a.pad) return -kEINVAL;
  if ((a.compute_core_mask & ~gi.shader_present) || (a.fragment_core_mask & ~gi.shader_present) ||
      (a.tiler_core_mask & ~gi.tiler_present)) {
    return -kEINVAL;
  }
  if (__builtin_popcountll(a.compute_core_mask) < a.max_compute_cores ||
      __builtin_popcountll(a.fragment_core_mask) < a.max_fragment_cores ||
      __builtin_popcountll(a.tiler_core_mask) < a.max_tiler_cores) {
    return -kEINVAL;
  }
  return 0;
}

// group_create_queue()'s checks.
int CheckQueue(const PanthorQueueCreate& q) {
  if (q.pad[0] || q.pad[1] || q.pad[2] || q.priority > kMaxQueuePriority) return -kEINVAL;
  if (q.ringbuf_size < 4096 || q.ringbuf_size > 65536 || !IsPowerOf2(q.ringbuf_size))
    return -kEINVAL;
  return 0;
}

}  // namespace

// Models panthor_ioctl_group_create() -> group_priority_permit() ->
// panthor_group_create() -> group_create_queue() (spec 7.2).
int Device::IoctlGroupCreate(File& f, void* data) {
  auto* a = static_cast<PanthorGroupCreate*>(data);
  std::vector<PanthorQueueCreate> queues;
  if (int ret = GetUobjArray(*f.umem_, a->queues, sizeof(PanthorQueueCreate), &queues); ret)
    return ret;
  const bool privileged = f.creds_.cap_sys_nice || f.master_;
  if (int ret = CheckGroupArgs(*a, config_.profile.gpu_info, privileged); ret) return ret;
  auto vit = f.vms_.find(a->vm_id);
  if (vit == f.vms_.end()) return -kEINVAL;
  auto g = std::make_shared<gpu::Group>();
  g->file = f.id_;
  g->vm = vit->second;
  g->priority = a->priority;
  for (const PanthorQueueCreate& q : queues) {
    if (int ret = CheckQueue(q); ret) return ret;
    gpu::Queue queue;
    queue.priority = q.priority;
    queue.ringbuf_size = q.ringbuf_size;
    g->queues.push_back(std::move(queue));
  }
  const uint32_t h = File::LowestFreeId(f.groups_);  // xa_alloc(XA_LIMIT(1, MAX_GROUPS_PER_POOL))
  if (h > kMaxGroupsPerFile) return -kEBUSY;
  g->handle = h;
  executor_.AddGroup(g);
  f.groups_[h] = std::move(g);
  a->group_handle = h;
  return 0;
}

// Models panthor_ioctl_group_destroy() -> panthor_group_destroy().
int Device::IoctlGroupDestroy(File& f, void* data) {
  auto* a = static_cast<PanthorGroupDestroy*>(data);
  if (a->pad) return -kEINVAL;
  auto it = f.groups_.find(a->group_handle);
  if (it == f.groups_.end()) return -kEINVAL;
  std::shared_ptr<gpu::Group> g = it->second;
  f.groups_.erase(it);
  DestroyGroup(g);
  return 0;
}

// Models panthor_ioctl_group_get_state() -> panthor_group_get_state().
int Device::IoctlGroupGetState(File& f, void* data) {
  auto* a = static_cast<PanthorGroupGetState*>(data);
  if (a->pad) return -kEINVAL;
  auto it = f.groups_.find(a->group_handle);
  if (it == f.groups_.end()) return -kEINVAL;
  a->state = it->second->state;
  a->fatal_queues = it->second->fatal_queues;
  return 0;
}

// Models panthor_submit_ctx_add_job()'s sync ops: every op is checked
// before any syncobj is looked up.
int Device::ResolveSyncOps(File& f, const std::vector<PanthorSyncOp>& syncs,
                           std::vector<std::shared_ptr<sync::Fence>>* waits,
                           std::vector<std::pair<sync::Syncobj*, uint64_t>>* signals,
                           const std::vector<InCallSignal>& earlier) {
  for (const PanthorSyncOp& s : syncs) {
    const uint32_t type = s.flags & kPanthorSyncOpHandleTypeMask;
    if ((s.flags & ~(kPanthorSyncOpHandleTypeMask | kPanthorSyncOpSignal)) ||
        (type != kPanthorSyncOpHandleTypeSyncobj &&
         type != kPanthorSyncOpHandleTypeTimelineSyncobj) ||
        (type == kPanthorSyncOpHandleTypeSyncobj && s.timeline_value)) {
      return -kEINVAL;
    }
  }
  for (const PanthorSyncOp& s : syncs) {
    auto it = f.syncobjs_.find(s.handle);
    if (s.flags & kPanthorSyncOpSignal) {
      if (it == f.syncobjs_.end()) return -kEINVAL;  // drm_syncobj_find() failed
      signals->push_back({it->second.get(), s.timeline_value});
    } else {
      // panthor_submit_ctx_add_sync_deps_to_job(): the fence of the last
      // earlier job of this call that signals the point, if any ...
      auto in_call = std::find_if(earlier.rbegin(), earlier.rend(), [&s](const InCallSignal& e) {
        return e.handle == s.handle && e.point == s.timeline_value;
      });
      if (in_call != earlier.rend()) {
        waits->push_back(in_call->fence);
        continue;
      }
      // ... else drm_syncobj_find_fence(): -ENOENT without the syncobj,
      // -EINVAL without a fence at that point.
      if (it == f.syncobjs_.end()) return -kENOENT;
      std::shared_ptr<sync::Fence> fence = it->second->FenceForPoint(s.timeline_value);
      if (!fence) return -kEINVAL;
      waits->push_back(std::move(fence));
    }
  }
  return 0;
}

// Models panthor_ioctl_group_submit(): every queue submit becomes a job; all
// are checked before any is queued; a job may wait on what an earlier job of
// the same call signals. A zero-sized stream is a sync point on
// its queue (panthor_job_create() accepts it); otherwise the job runs the
// stream's instructions.
int Device::IoctlGroupSubmit(File& f, void* data) {
  auto* a = static_cast<PanthorGroupSubmit*>(data);
  if (a->pad) return -kEINVAL;
  std::vector<PanthorQueueSubmit> submits;
  int ret = GetUobjArray(*f.umem_, a->queue_submits, sizeof(PanthorQueueSubmit), &submits);
  if (ret) return ret;
  auto git = f.groups_.find(a->group_handle);
  std::vector<std::shared_ptr<gpu::Job>> jobs;
  std::vector<InCallSignal> signalled;  // by the jobs so far, in order
  for (const PanthorQueueSubmit& q : submits) {
    // panthor_job_create().
    if (git == f.groups_.end()) return -kEINVAL;
    // A stream address without a size, or a size without one; a stream not
    // 64-byte aligned or not whole instructions; latest_flush's reserved bits.
    if ((q.stream_size == 0) != (q.stream_addr == 0)) return -kEINVAL;
    if (q.pad || (q.stream_size & 7) || (q.stream_addr & 63)) return -kEINVAL;
    if (q.latest_flush & kPanthorLatestFlushReserved) return -kEINVAL;
    if (q.queue_index >= git->second->queues.size()) return -kEINVAL;
    if (!git->second->CanRun()) return -kEINVAL;
    auto job = std::make_shared<gpu::Job>();
    job->group = git->second;
    job->queue = q.queue_index;
    job->cs_addr = q.stream_addr;
    job->cs_size = q.stream_size;
    std::vector<PanthorSyncOp> syncs;
    ret = GetUobjArray(*f.umem_, q.syncs, sizeof(PanthorSyncOp), &syncs);
    if (!ret) ret = ResolveSyncOps(f, syncs, &job->waits, &job->signals, signalled);
    if (ret) return ret;
    for (const PanthorSyncOp& op : syncs) {
      if (op.flags & kPanthorSyncOpSignal)
        signalled.push_back({op.handle, op.timeline_value, job->done});
    }
    jobs.push_back(std::move(job));
  }
  last_submitted_ = jobs.empty() ? nullptr : jobs.front();
  for (auto& job : jobs) {
    // A stream's record, or — for a sync point — the CPU's writes alone, so
    // that none is lost to the recording. The writes go with the call's
    // first job only: a replay notes them again before each event's submit.
    if ((job->cs_size || !cpu_writes_.empty()) && out_.observed())
      EmitCsSubmit(*job, a->group_handle);
    cpu_writes_.clear();
    executor_.Submit(std::move(job));
  }
  // The CPU's writes before the submit are the GPU's to see now: a queue
  // blocked on a SYNC_WAIT looks again (a replay puts the recorded writes
  // back before the same submit).
  executor_.WakeSyncWaiters();
  return 0;
}

void Device::EmitCsSubmit(const gpu::Job& job, uint32_t group_handle) {
  // The stream as the CPU left it in memory, so that a replay can put the
  // same words where the recording found them.
  std::string words;
  vm::Vm& vm = *job.group->vm;
  for (uint64_t at = job.cs_addr; at < job.cs_addr + job.cs_size;) {
    const vm::Vma* vma = vm.va_space().FindFirst(at, 1);
    if (vma == nullptr || !vma->bo) break;  // the rest faults when fetched
    const uint64_t chunk = std::min(job.cs_addr + job.cs_size, vma->end()) - at;
    const size_t old = words.size();
    words.resize(old + chunk);
    vma->bo->Read(vma->bo_offset + (at - vma->addr), &words[old], chunk);
    at += chunk;
  }
  // The CPU's writes since the last submit, at their addresses in this VM
  // (a stream may load them).
  std::vector<std::pair<uint64_t, std::string>> reads;
  for (const CpuWrite& cw : cpu_writes_) {
    std::shared_ptr<gem::Bo> bo = cw.bo.lock();
    if (!bo) continue;
    for (const auto& [addr, vma] : vm.va_space().vmas()) {
      if (vma.bo != bo) continue;
      const uint64_t lo = std::max(cw.offset, vma.bo_offset);
      const uint64_t hi = std::min(cw.offset + cw.bytes.size(), vma.bo_offset + vma.range);
      if (lo >= hi) continue;
      reads.emplace_back(vma.addr + (lo - vma.bo_offset), cw.bytes.substr(lo - cw.offset, hi - lo));
    }
  }
  trace::Event e;
  e.kind = trace::EVENT_CS_SUBMIT;
  for (const auto& [va, bytes] : reads) e.cs_submit.reads.push_back({va, bytes});
  e.cs_submit.group = group_handle;
  e.cs_submit.queue = job.queue;
  e.cs_submit.stream_va = job.cs_addr;
  e.cs_submit.words = words;
  e.cs_submit.job = executor_.next_job_seq();
  out_.Emit(e);
}

bool Device::NoteCpuWriteAt(uint64_t offset, absl::string_view bytes) {
  std::shared_ptr<gem::Bo> bo = objects_.AtOffset(offset >> kPageShift, 1);
  if (!bo) return false;
  const uint64_t at = offset - (bo->mmap_pgoff() << kPageShift);
  if (bytes.size() > bo->size_bytes() || at > bo->size_bytes() - bytes.size()) return false;
  NoteCpuWrite(bo, at, std::string(bytes));
  return true;
}

void Device::RunGpu(uint64_t until_ns) {
  trace::Event e;
  e.kind = trace::EVENT_GPU_RUN;
  e.gpu_run.until_ns = until_ns;
  for (const CpuWrite& cw : cpu_writes_) {
    if (std::shared_ptr<gem::Bo> bo = cw.bo.lock())
      e.gpu_run.cpu_writes.push_back({(bo->mmap_pgoff() << kPageShift) + cw.offset, cw.bytes});
  }
  out_.Emit(e);
  cpu_writes_.clear();
  executor_.WakeSyncWaiters();
  sched_.RunUntil([] { return false; }, until_ns);
}

bool Device::CpuBacked(gem::Bo& bo, uint64_t offset, uint64_t n) {
  // The CPU writes through a mapping, and mapping a BO populates it whole
  // (drm_gem_shmem_mmap(), an alloc-on-fault one too). A replay's write into
  // a BO a what-if made alloc-on-fault, or a hostile trace's into one never
  // mapped, populates it the same way first — or is dropped when memory
  // runs out.
  for (uint64_t p = offset / kPageSize; p < (offset + n + kPageSize - 1) / kPageSize; ++p) {
    if (bo.pages().FrameOf(p) != gem::kNoFrame) continue;
    uint64_t populated = 0;
    return bo.GetPages(mem::AllocClass::kBlocking, &populated) == 0;
  }
  return true;
}

void Device::NoteCpuWrite(const std::shared_ptr<gem::Bo>& bo, uint64_t offset, std::string bytes) {
  if (!CpuBacked(*bo, offset, bytes.size())) return;
  bo->Write(offset, bytes.data(), bytes.size());
  if (out_.observed()) cpu_writes_.push_back({bo, offset, std::move(bytes)});
}

uint64_t Device::WriteGpuVa(File* file, uint32_t group, uint64_t va, absl::string_view bytes,
                            bool note) {
  auto git = file->groups_.find(group);
  if (git == file->groups_.end()) return 0;
  vm::Vm& vm = *git->second->vm;
  uint64_t done = 0;
  while (done < bytes.size()) {
    const vm::Vma* vma = vm.va_space().FindFirst(va + done, 1);
    if (vma == nullptr || !vma->bo) break;
    const uint64_t chunk = std::min<uint64_t>(bytes.size() - done, vma->end() - (va + done));
    const uint64_t offset = vma->bo_offset + (va + done - vma->addr);
    if (note) {
      NoteCpuWrite(vma->bo, offset, std::string(bytes.substr(done, chunk)));
    } else if (CpuBacked(*vma->bo, offset, chunk)) {
      vma->bo->Write(offset, bytes.data() + done, chunk);
    }
    done += chunk;
  }
  return done;
}

int Device::SubmitAccessJob(File* file, uint32_t group_handle, uint32_t queue,
                            std::vector<gpu::GpuAccess> accesses, uint32_t signal_syncobj,
                            uint64_t* job_seq) {
  auto git = file->groups_.find(group_handle);
  if (git == file->groups_.end()) return -kEINVAL;
  if (queue >= git->second->queues.size() || !git->second->CanRun()) return -kEINVAL;
  auto job = std::make_shared<gpu::Job>();
  job->group = git->second;
  job->queue = queue;
  job->accesses = std::move(accesses);
  if (signal_syncobj) {
    const PanthorSyncOp sig{kPanthorSyncOpSignal, signal_syncobj, 0};
    if (int ret = ResolveSyncOps(*file, {sig}, &job->waits, &job->signals); ret) return ret;
  }
  executor_.Submit(job);
  // The submission is recorded: one event per range, consecutive, same job.
  for (const gpu::GpuAccess& a : job->accesses) {
    trace::Event e;
    e.kind = trace::EVENT_JOB_ACCESS;
    e.access.job = job->seq;
    e.access.vm = static_cast<uint32_t>(job->group->vm->key());
    e.access.va = a.va;
    e.access.length_bytes = a.length_bytes;
    e.access.stride_bytes = a.stride_bytes;
    e.access.access = a.tiler_oom ? trace::ACCESS_TYPE_UNSPECIFIED : a.access;
    e.access.file = file->id_;
    e.access.group = group_handle;
    e.access.queue = queue;
    e.access.signal_syncobj = signal_syncobj;
    out_.Emit(e);
  }
  if (job_seq) *job_seq = job->seq;
  return 0;
}

bool Device::PrependAccesses(std::vector<gpu::GpuAccess> accesses) {
  gpu::Job* job = last_submitted_.get();
  if (job == nullptr || job->finished || job->run_started_ns || job->access_index) return false;
  accesses.insert(accesses.end(), job->accesses.begin(), job->accesses.end());
  job->accesses = std::move(accesses);
  return true;
}

}  // namespace faultlab::dev
