// Groups, queues and jobs (panthor_sched.c as the twin needs it): GROUP_CREATE /
// DESTROY / SUBMIT / GET_STATE, and the executor that runs a job's access
// ranges through its VM's page tables.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/dev/device.h"
#include "engine/dev/uobj.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT

namespace {

constexpr uint32_t kMaxGroupsPerFile = 128;  // MAX_GROUPS_PER_POOL
constexpr uint8_t kMaxQueuePriority = 15;    // PANTHOR_MAX_QUEUE_PRIORITY
constexpr uint64_t kPagesPerRunEvent = 512;  // pages an executor event processes at most

bool IsPow2(uint64_t x) { return x && !(x & (x - 1)); }

}  // namespace

std::optional<FaultPolicy> ParseFaultPolicy(absl::string_view s) {
  FaultPolicy p;
  if (s == "noretry") return p;
  if (s == "nowait") {
    p.kind = FaultPolicyKind::kNowait;
    return p;
  }
  if (s == "dummy-page") {
    p.kind = FaultPolicyKind::kDummyPage;
    return p;
  }
  if (s.substr(0, 5) == "pool:") {
    uint64_t n = 0;
    for (char c : s.substr(5)) {
      if (c < '0' || c > '9' || n > (1ULL << 40)) return std::nullopt;
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (s.size() == 5) return std::nullopt;
    p.kind = FaultPolicyKind::kPool;
    p.pool_pages = n;
    return p;
  }
  return std::nullopt;
}

std::string FaultPolicyName(const FaultPolicy& p) {
  switch (p.kind) {
    case FaultPolicyKind::kNoretry: return "noretry";
    case FaultPolicyKind::kNowait: return "nowait";
    case FaultPolicyKind::kPool: return absl::StrCat("pool:", p.pool_pages);
    case FaultPolicyKind::kDummyPage: return "dummy-page";
  }
  return "?";
}

// Models panthor_ioctl_group_create() -> group_priority_permit() ->
// panthor_group_create() -> group_create_queue() (spec 7.2).
int Device::IoctlGroupCreate(File& f, void* data) {
  auto* a = static_cast<PanthorGroupCreate*>(data);
  std::vector<PanthorQueueCreate> queues;
  int ret = GetUobjArray(*f.umem_, a->queues, sizeof(PanthorQueueCreate), &queues);
  if (ret) return ret;
  // group_priority_permit(): beyond REALTIME -EINVAL; HIGH/REALTIME need
  // CAP_SYS_NICE or the DRM master.
  if (a->priority > kPanthorGroupPriorityRealtime) return -kEINVAL;
  if (a->priority >= kPanthorGroupPriorityHigh && !f.creds_.cap_sys_nice && !f.master_) {
    return -kEACCES;
  }
  if (a->queues.count == 0 || a->pad) return -kEINVAL;
  const PanthorGpuInfo& gi = config_.profile.gpu_info;
  if ((a->compute_core_mask & ~gi.shader_present) || (a->fragment_core_mask & ~gi.shader_present) ||
      (a->tiler_core_mask & ~gi.tiler_present)) {
    return -kEINVAL;
  }
  if (__builtin_popcountll(a->compute_core_mask) < a->max_compute_cores ||
      __builtin_popcountll(a->fragment_core_mask) < a->max_fragment_cores ||
      __builtin_popcountll(a->tiler_core_mask) < a->max_tiler_cores) {
    return -kEINVAL;
  }
  auto vit = f.vms_.find(a->vm_id);
  if (vit == f.vms_.end()) return -kEINVAL;
  auto g = std::make_shared<Group>();
  g->file = f.id_;
  g->vm = vit->second;
  g->priority = a->priority;
  for (const PanthorQueueCreate& q : queues) {
    if (q.pad[0] || q.pad[1] || q.pad[2] || q.priority > kMaxQueuePriority) return -kEINVAL;
    if (q.ringbuf_size < 4096 || q.ringbuf_size > 65536 || !IsPow2(q.ringbuf_size)) {
      return -kEINVAL;
    }
    Queue queue;
    queue.priority = q.priority;
    queue.ringbuf_size = q.ringbuf_size;
    g->queues.push_back(std::move(queue));
  }
  uint32_t h = 1;  // xa_alloc(XA_LIMIT(1, MAX_GROUPS_PER_POOL))
  for (const auto& [k, v] : f.groups_) {
    if (k != h) break;
    ++h;
  }
  if (h > kMaxGroupsPerFile) return -kEBUSY;
  g->handle = h;
  f.groups_[h] = std::move(g);
  a->group_handle = h;
  return 0;
}

// Models panthor_ioctl_group_destroy() -> panthor_group_destroy(): the group's
// jobs are cancelled.
int Device::IoctlGroupDestroy(File& f, void* data) {
  auto* a = static_cast<PanthorGroupDestroy*>(data);
  if (a->pad) return -kEINVAL;
  auto it = f.groups_.find(a->group_handle);
  if (it == f.groups_.end()) return -kEINVAL;
  std::shared_ptr<Group> g = it->second;
  f.groups_.erase(it);
  g->destroyed = true;
  KillGroup(g, 0);
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

int Device::ResolveSyncOps(File& f, const std::vector<PanthorSyncOp>& syncs,
                           std::vector<std::shared_ptr<sync::Fence>>* waits,
                           std::vector<std::pair<sync::Syncobj*, uint64_t>>* signals) {
  for (const PanthorSyncOp& s : syncs) {
    const uint32_t type = s.flags & kPanthorSyncOpHandleTypeMask;
    if ((s.flags & ~(kPanthorSyncOpHandleTypeMask | kPanthorSyncOpSignal)) ||
        (type != kPanthorSyncOpHandleTypeSyncobj && type != kPanthorSyncOpHandleTypeTimelineSyncobj) ||
        (type == kPanthorSyncOpHandleTypeSyncobj && s.timeline_value)) {
      return -kEINVAL;
    }
  }
  for (const PanthorSyncOp& s : syncs) {
    auto it = f.syncobjs_.find(s.handle);
    if (s.flags & kPanthorSyncOpSignal) {
      if (it == f.syncobjs_.end()) return -kEINVAL;
      signals->push_back({it->second.get(), s.timeline_value});
    } else {
      if (it == f.syncobjs_.end()) return -kENOENT;
      std::shared_ptr<sync::Fence> fence = it->second->FenceForPoint(s.timeline_value);
      if (!fence) return -kEINVAL;
      waits->push_back(std::move(fence));
    }
  }
  return 0;
}

// Models panthor_ioctl_group_submit(): every queue submit becomes a job; all
// are checked before any is queued. A zero-sized stream is a sync point on
// its queue (panthor_job_create() accepts it); otherwise the job runs the
// stream's instructions (RunCs).
int Device::IoctlGroupSubmit(File& f, void* data) {
  auto* a = static_cast<PanthorGroupSubmit*>(data);
  if (a->pad) return -kEINVAL;
  std::vector<PanthorQueueSubmit> submits;
  int ret = GetUobjArray(*f.umem_, a->queue_submits, sizeof(PanthorQueueSubmit), &submits);
  if (ret) return ret;
  auto git = f.groups_.find(a->group_handle);
  std::vector<std::shared_ptr<Job>> jobs;
  for (const PanthorQueueSubmit& q : submits) {
    // panthor_job_create().
    if (git == f.groups_.end()) return -kEINVAL;
    if (q.pad || (q.stream_size & 7) || (q.stream_addr & 63)) return -kEINVAL;
    if (q.queue_index >= git->second->queues.size()) return -kEINVAL;
    if (!git->second->CanRun()) return -kEINVAL;
    auto job = std::make_shared<Job>();
    job->group = git->second;
    job->queue = q.queue_index;
    job->cs_addr = q.stream_addr;
    job->cs_size = q.stream_size;
    std::vector<PanthorSyncOp> syncs;
    ret = GetUobjArray(*f.umem_, q.syncs, sizeof(PanthorSyncOp), &syncs);
    if (!ret) ret = ResolveSyncOps(f, syncs, &job->waits, &job->signals);
    if (ret) return ret;
    jobs.push_back(std::move(job));
  }
  for (auto& job : jobs) {
    // The stream as the CPU left it in memory: recorded (CsSubmitEvent), so
    // that a replay can put the same words where the recording found them.
    if (job->cs_size && observer_) {
      std::string words;
      vm::Vm& vm = *job->group->vm;
      for (uint64_t at = job->cs_addr; at < job->cs_addr + job->cs_size;) {
        const vm::Vma* vma = vm.va_space().FindFirst(at, 1);
        if (vma == nullptr || !vma->bo) break;  // the rest faults when fetched
        const uint64_t chunk = std::min(job->cs_addr + job->cs_size, vma->end()) - at;
        const size_t old = words.size();
        words.resize(old + chunk);
        vma->bo->Read(vma->bo_offset + (at - vma->addr), &words[old], chunk);
        at += chunk;
      }
      // The CPU's writes since the last submit, at their addresses in this
      // VM (a stream may load them).
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
      e.cs_submit.group = a->group_handle;
      e.cs_submit.queue = job->queue;
      e.cs_submit.stream_va = job->cs_addr;
      e.cs_submit.words = words;
      e.cs_submit.job = next_job_seq_;
      Emit(e);
    }
    QueueJob(std::move(job));
  }
  if (!jobs.empty()) cpu_writes_.clear();
  return 0;
}

void Device::NoteCpuWrite(const std::shared_ptr<gem::Bo>& bo, uint64_t offset, std::string bytes) {
  bo->Write(offset, bytes.data(), bytes.size());
  if (observer_) cpu_writes_.push_back({bo, offset, std::move(bytes)});
}

uint64_t Device::WriteGpuVa(File* file, uint32_t group, uint64_t va, absl::string_view bytes, bool note) {
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
    } else {
      vma->bo->Write(offset, bytes.data() + done, chunk);
    }
    done += chunk;
  }
  return done;
}

int Device::SubmitAccessJob(File* file, uint32_t group_handle, uint32_t queue,
                            std::vector<GpuAccess> accesses, uint32_t signal_syncobj,
                            uint64_t* job_seq) {
  auto git = file->groups_.find(group_handle);
  if (git == file->groups_.end()) return -kEINVAL;
  if (queue >= git->second->queues.size() || !git->second->CanRun()) return -kEINVAL;
  auto job = std::make_shared<Job>();
  job->group = git->second;
  job->queue = queue;
  job->accesses = std::move(accesses);
  if (signal_syncobj) {
    const PanthorSyncOp sig{kPanthorSyncOpSignal, signal_syncobj, 0};
    if (int ret = ResolveSyncOps(*file, {sig}, &job->waits, &job->signals); ret) return ret;
  }
  QueueJob(job);
  // The submission is recorded: one event per range, consecutive, same job.
  for (const GpuAccess& a : job->accesses) {
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
    Emit(e);
  }
  if (job_seq) *job_seq = job->seq;
  return 0;
}

int Device::QueueJob(std::shared_ptr<Job> job) {
  job->seq = next_job_seq_++;
  ++stats_.jobs_submitted;
  // pool:<pages>: the reserve is refilled with blocking allocation at each submit.
  if (config_.policy.kind == FaultPolicyKind::kPool) memory_.FillPool(config_.policy.pool_pages);
  // dummy-page: the degraded mappings' table pages, refilled the same way.
  while (config_.policy.kind == FaultPolicyKind::kDummyPage &&
         reserve_tables_.size() < kReserveTables) {
    uint32_t f;
    if (!memory_.AllocPage(mem::AllocClass::kBlocking, mem::Owner::kReserve, &f)) break;
    reserve_tables_.push_back(f);
  }
  for (auto& [obj, point] : job->signals) {
    if (point) {
      obj->AddPoint(point, job->done);
    } else {
      obj->ReplaceFence(job->done);
    }
  }
  Queue& q = job->group->queues[job->queue];
  q.jobs.push_back(job);
  // Wait fences gate the job; the queue order gates the rest.
  auto remaining = std::make_shared<size_t>(job->waits.size() + 1);
  auto on_ready = [this, job, remaining] {
    if (--*remaining != 0) return;
    job->deps_ready = true;
    TryStart(job->group->queues[job->queue]);
  };
  for (auto& w : job->waits) w->OnSignal(on_ready);
  on_ready();
  return 0;
}

void Device::TryStart(Queue& q) {
  if (q.running || q.jobs.empty()) return;
  std::shared_ptr<Job> job = q.jobs.front();
  if (!job->deps_ready || job->started) return;  // waiting for its fences
  q.running = true;
  StartJob(job);
}

void Device::StartJob(const std::shared_ptr<Job>& job) {
  job->started = true;
  std::shared_ptr<Group> g = job->group;
  if (!g->CanRun()) {
    FinishJob(job, g->destroyed ? -kECANCELED : -kEINVAL);
    return;
  }
  // The group is scheduled on a CSG slot: its VM becomes active (panthor_vm_active()).
  uint64_t evicted = 0;
  const bool was_active = mmu_.Active(g->vm->key());
  const int as = mmu_.Activate(g->vm->key(), &evicted);
  if (as >= 0 && !was_active) {
    // panthor_vm_active(): "If the VM is re-activated, we clear the fault."
    vm_faults_[g->vm->key()].status = 0;
    vm_faults_[g->vm->key()].addr = 0;
  }
  if (as < 0) {
    waiting_for_as_.push_back(job);  // -EBUSY: retried when a VM goes idle
    return;
  }
  job->as = as;
  sched_.After(Cost(config_.profile.cost.job_launch), [this, job] { RunJob(job); });
}

void Device::RetryWaitingForAs() {
  std::deque<std::shared_ptr<Job>> waiting;
  waiting.swap(waiting_for_as_);
  for (auto& job : waiting) {
    if (!job->finished) StartJob(job);
  }
}

void Device::RunJob(const std::shared_ptr<Job>& job) {
  if (job->finished) return;
  vm::Vm& vm = *job->group->vm;
  if (!mmu_.Enabled(job->as)) {
    // The AS was disabled under the job: its accesses die (a CS fault).
    KillGroup(job->group, 1u << job->queue);
    return;
  }
  if (job->cs_size) {
    RunCs(job);
    return;
  }
  uint64_t cost = 0, pages = 0;
  while (job->access_index < job->accesses.size() && pages < kPagesPerRunEvent) {
    const GpuAccess& a = job->accesses[job->access_index];
    if (a.tiler_oom) {
      ++job->access_index;
      const uint64_t grow_ns = HeapGrow(job, a.va);
      sched_.After(cost + grow_ns, [this, job] { RunJob(job); });
      return;
    }
    if (job->access_offset >= a.length_bytes) {
      ++job->access_index;
      job->access_offset = 0;
      continue;
    }
    const uint64_t va = a.va + job->access_offset;
    const pgtable::Walk w = vm.page_table().Translate(va);
    const bool write = a.access == trace::ACCESS_WRITE || a.access == trace::ACCESS_ATOMIC;
    uint32_t status = 0;
    const uint32_t access = a.access == trace::ACCESS_WRITE      ? mmu::kAccessWrite
                            : a.access == trace::ACCESS_EXECUTE ? mmu::kAccessExecute
                            : a.access == trace::ACCESS_ATOMIC  ? mmu::kAccessAtomic
                                                                : mmu::kAccessRead;
    if (!w.mapped) {
      status = mmu::FaultStatus(mmu::kTranslationFault0 + w.level, access, 0);
    } else if ((write && (w.pte & pgtable::kPteApRdonly)) ||
               (a.access == trace::ACCESS_EXECUTE && (w.pte & pgtable::kPteXn))) {
      status = mmu::FaultStatus(mmu::kPermFault0 + w.level, access, 0);
    }
    if (status) {
      sched_.After(cost, [this, job, status, va] { RaiseFault(job, status, va); });
      return;
    }
    cost += Cost(config_.profile.cost.gpu_page_access);
    ++pages;
    // Next page of the range: the next stride, or the next 4 KiB page.
    const uint64_t step = a.stride_bytes ? a.stride_bytes : 4096 - (va & 4095);
    job->access_offset += step;
  }
  if (job->access_index >= job->accesses.size()) {
    sched_.After(cost, [this, job] { FinishJob(job, 0); });
  } else {
    sched_.After(cost, [this, job] { RunJob(job); });
  }
}

void Device::FinishJob(const std::shared_ptr<Job>& job, int error) {
  if (job->finished) return;
  job->finished = true;
  Queue& q = job->group->queues[job->queue];
  if (error == 0) {
    ++stats_.jobs_completed;
  } else {
    ++stats_.jobs_failed;
  }
  if (job->as >= 0) {
    mmu_.Idle(job->group->vm->key());
    job->as = -1;
  }
  auto it = std::find(q.jobs.begin(), q.jobs.end(), job);
  const bool was_head = it == q.jobs.begin();
  if (it != q.jobs.end()) q.jobs.erase(it);
  if (was_head) q.running = false;
  job->done->Signal(error);
  TryStart(q);
  RetryWaitingForAs();
}

// The group can't run any more: its jobs end — -EINVAL on fatal queues,
// -ECANCELED on the others (group_term_work()); a destroyed group's all
// -ECANCELED.
void Device::KillGroup(const std::shared_ptr<Group>& group, uint32_t fatal_queues) {
  if (fatal_queues) {
    if (group->fatal_queues == 0) ++stats_.groups_killed;
    group->state |= kPanthorGroupStateFatalFault;
    group->fatal_queues |= fatal_queues;
  }
  for (uint32_t qi = 0; qi < group->queues.size(); ++qi) {
    std::deque<std::shared_ptr<Job>> jobs = group->queues[qi].jobs;
    for (auto& job : jobs) {
      for (auto& [as, list] : stalled_) list.erase(std::remove(list.begin(), list.end(), job), list.end());
      FinishJob(job, (group->fatal_queues >> qi) & 1 ? -kEINVAL : -kECANCELED);
    }
  }
}

std::shared_ptr<Group> Device::LookupGroup(File* file, uint32_t handle) const {
  auto it = file->groups_.find(handle);
  return it == file->groups_.end() ? nullptr : it->second;
}

}  // namespace faultlab::dev
