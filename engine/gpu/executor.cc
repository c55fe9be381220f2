#include "engine/gpu/executor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/pgtable/pgtable.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::gpu {

namespace {

constexpr uint64_t kPagesPerSlice = 512;  // pages an access-range slice touches at most

uint32_t MmuAccess(trace::AccessType a) {
  switch (a) {
    case trace::ACCESS_WRITE:
      return mmu::kAccessWrite;
    case trace::ACCESS_EXECUTE:
      return mmu::kAccessExecute;
    case trace::ACCESS_ATOMIC:
      return mmu::kAccessAtomic;
    default:
      return mmu::kAccessRead;
  }
}

// The leaf bits that make an access of type `a` a permission fault: writes
// and atomics to read-only pages, execution of no-exec ones.
uint64_t Deny(trace::AccessType a) {
  if (a == trace::ACCESS_WRITE || a == trace::ACCESS_ATOMIC) return pgtable::kPteApRdonly;
  return a == trace::ACCESS_EXECUTE ? pgtable::kPteXn : 0;
}

// The fault an access of type `a` takes through walk `w`; 0 when it goes through.
uint32_t AccessFault(const pgtable::Walk& w, trace::AccessType a) {
  if (!w.mapped) return mmu::FaultStatus(mmu::kTranslationFault0 + w.level, MmuAccess(a), 0);
  if (w.pte & Deny(a)) return mmu::FaultStatus(mmu::kPermFault0 + w.level, MmuAccess(a), 0);
  return 0;
}

}  // namespace

Executor::Executor(const Deps& deps)
    : d_(deps),
      cs_(deps.cost, &deps.sched->prng(), deps.mmu, deps.heaps,
          {deps.sched, deps.timestamp_hz, deps.cycle_hz}, deps.cs_shape) {}

void Executor::AddGroup(const std::shared_ptr<Group>& group) {
  groups_[{group->file, group->handle}] = group;
}

void Executor::RemoveGroup(const Group& group) {
  auto it = groups_.find({group.file, group.handle});
  if (it != groups_.end() && it->second.lock().get() == &group) groups_.erase(it);
}

void Executor::Submit(std::shared_ptr<Job> job) {
  job->seq = next_job_seq_++;
  ++stats_.jobs_submitted;
  d_.policy->OnSubmit();
  for (auto& [obj, point] : job->signals) {
    if (point) {
      obj->AddPoint(point, job->done);
    } else {
      obj->ReplaceFence(job->done);
    }
  }
  job->group->queues[job->queue].jobs.push_back(job);
  // Wait fences gate the job; the queue order gates the rest.
  auto remaining = std::make_shared<size_t>(job->waits.size() + 1);
  auto on_ready = [this, job, remaining] {
    if (--*remaining != 0) return;
    job->deps_ready = true;
    TryStart(job->group->queues[job->queue]);
  };
  for (auto& w : job->waits) w->OnSignal(on_ready);
  on_ready();
}

void Executor::TryStart(Queue& q) {
  if (q.running || q.jobs.empty()) return;
  std::shared_ptr<Job> job = q.jobs.front();
  if (!job->deps_ready || job->started) return;  // waiting for its fences
  q.running = true;
  if (running_queues_++ == 0) d_.power->SetBusy(true, d_.sched->now_ns());
  Start(job);
}

void Executor::Start(const std::shared_ptr<Job>& job) {
  job->started = true;
  std::shared_ptr<Group> g = job->group;
  if (!g->CanRun()) {
    Finish(job, g->destroyed ? -uapi::kECANCELED : -uapi::kEINVAL);
    return;
  }
  // The group is scheduled on a CSG slot: its VM becomes active (panthor_vm_active()).
  uint64_t evicted = 0;
  const bool was_active = d_.mmu->Active(g->vm->key());
  const int as = d_.mmu->Activate(g->vm->key(), &evicted);
  if (as >= 0 && !was_active) d_.fault->OnVmActivated(g->vm->key());
  if (as < 0) {
    waiting_for_as_.push_back(job);  // -EBUSY: retried when a VM goes idle
    return;
  }
  job->as = as;
  d_.sched->After(Cost(d_.cost->job_launch), [this, job] { Run(job); });
}

void Executor::RetryWaitingForAs() {
  std::deque<std::shared_ptr<Job>> waiting;
  waiting.swap(waiting_for_as_);
  for (auto& job : waiting) {
    if (!job->finished) Start(job);
  }
}

void Executor::Run(const std::shared_ptr<Job>& job) {
  if (job->finished) return;
  if (!d_.mmu->Enabled(job->as)) {
    // The AS was disabled under the job: its accesses die (a CS fault).
    KillGroup(job->group, 1u << job->queue);
    return;
  }
  // Models panthor's job timeout (queue_timedout(): the profile's, 5 s, from the job's
  // start): a job still running then is killed, whatever keeps it busy —
  // which also bounds the host work a hostile trace's job can ask for.
  const uint64_t now = d_.sched->now_ns();
  if (job->run_started_ns == 0) job->run_started_ns = now + 1;
  if (now + 1 - job->run_started_ns > d_.job_timeout_ns) {
    d_.out->Log(absl::StrCat("panthor: group ", job->group->handle, " queue ", job->queue,
                             ": job timeout"));
    d_.sched->After(0, [this, job] { TimeOut(job->group); });
    return;
  }
  // A stream runs until a RUN_* hands the job access ranges to touch.
  if (job->cs_size && job->access_index >= job->accesses.size()) {
    RunStream(job);
  } else {
    RunAccesses(job);
  }
}

void Executor::RunAccesses(const std::shared_ptr<Job>& job) {
  vm::Vm& vm = *job->group->vm;
  uint64_t cost = 0, pages = 0;
  // The page last translated for the current range: nothing else runs
  // within a slice, so its translation holds for the next accesses to it.
  uint64_t translated_page = ~uint64_t{0};
  size_t translated_range = job->access_index;
  while (job->access_index < job->accesses.size() && pages < kPagesPerSlice) {
    const GpuAccess& a = job->accesses[job->access_index];
    if (a.tiler_oom) {
      ++job->access_index;
      const uint64_t grow_ns = d_.heaps->Grow(vm, a.va);
      d_.sched->After(cost + grow_ns, [this, job] { Run(job); });
      return;
    }
    if (job->access_offset >= a.length_bytes) {
      ++job->access_index;
      job->access_offset = 0;
      continue;
    }
    const uint64_t va = a.va + job->access_offset;
    if (a.stride_bytes == 0) {
      // A walk of whole pages: the run that translates without a fault, at
      // once (each page still draws its cost).
      const uint64_t last_page = (a.va + a.length_bytes - 1) >> 12;
      const uint64_t want = std::min(last_page - (va >> 12) + 1, kPagesPerSlice - pages);
      const uint64_t n = vm.page_table().AccessibleRun(va & ~uint64_t{4095}, want, Deny(a.access));
      cost += d_.cost->gpu_page_access.DrawSum(d_.sched->prng(), n);
      pages += n;
      if (n > 0) job->access_offset = (((va >> 12) + n) << 12) - a.va;
      if (n == want) continue;
      const uint64_t at = a.va + job->access_offset;  // the page that faults
      const uint32_t status = AccessFault(vm.page_table().Translate(at), a.access);
      d_.sched->After(cost, [this, job, status, at] { Stall(job, status, at); });
      return;
    }
    if (va >> 12 != translated_page || job->access_index != translated_range) {
      if (const uint32_t status = AccessFault(vm.page_table().Translate(va), a.access)) {
        d_.sched->After(cost, [this, job, status, va] { Stall(job, status, va); });
        return;
      }
      translated_page = va >> 12;
      translated_range = job->access_index;
    }
    cost += Cost(d_.cost->gpu_page_access);
    ++pages;
    // Next page of the range: the next stride, or the next 4 KiB page.
    job->access_offset += a.stride_bytes ? a.stride_bytes : 4096 - (va & 4095);
  }
  if (job->access_index >= job->accesses.size() && !job->cs_size) {
    d_.sched->After(cost, [this, job] { Finish(job, 0); });
  } else {  // more ranges, or the stream goes on
    d_.sched->After(cost, [this, job] { Run(job); });
  }
}

void Executor::RunStream(const std::shared_ptr<Job>& job) {
  const uint64_t now = d_.sched->now_ns();
  CsSlice s = cs_.Run(*job);
  // What the slice stored or counted may release a queue blocked on a
  // SYNC_WAIT or PROGRESS_WAIT.
  if ((s.stored || s.progressed) && !sync_waiters_.empty())
    d_.sched->After(s.cost_ns, [this] { WakeSyncWaiters(); });
  switch (s.end) {
    case CsSlice::End::kYield:
      d_.sched->After(s.cost_ns, [this, job] { Run(job); });
      return;
    case CsSlice::End::kDone:
      d_.sched->After(s.cost_ns, [this, job] { Finish(job, 0); });
      return;
    case CsSlice::End::kFault: {
      const uint32_t status = s.fault_status;
      const uint64_t va = s.fault_va;
      d_.sched->After(s.cost_ns, [this, job, status, va] { Stall(job, status, va); });
      return;
    }
    case CsSlice::End::kFatal:
      Fatal(job, s.message, s.exception);
      d_.sched->After(s.cost_ns, [this, job] { KillGroup(job->group, 1u << job->queue); });
      return;
    case CsSlice::End::kSyncWait:
      // Nothing releasing it, the job times out (queue_timedout()).
      sync_waiters_.push_back(job);
      ArmTimeout(job, now + s.cost_ns, "a wait never satisfied");
      return;
    case CsSlice::End::kEndlessLoop:
      // Nothing can end the loop: skip to the job timeout rather than run
      // 5 s of instructions.
      ArmTimeout(job, now + s.cost_ns, "an endless loop");
      return;
    case CsSlice::End::kStuck:
      d_.out->Log(absl::StrCat("panthor: group ", job->group->handle, " queue ", job->queue, ": ",
                               s.message));
      ArmTimeout(job, now + s.cost_ns, "a stream that cannot go on");
      return;
    case CsSlice::End::kWork:
      d_.sched->After(s.cost_ns, [this, job] { Run(job); });
      return;
  }
}

void Executor::ArmTimeout(const std::shared_ptr<Job>& job, uint64_t earliest, const char* why) {
  // Once per job: a SYNC_WAIT looked at again (every live step, every
  // submit) blocks again without piling up timeouts.
  if (job->timeout_armed) return;
  job->timeout_armed = true;
  const uint64_t deadline = job->run_started_ns - 1 + d_.job_timeout_ns;
  d_.sched->At(std::max(deadline, earliest), [this, job, why] {
    if (job->finished) return;
    d_.out->Log(absl::StrCat("panthor: group ", job->group->handle, " queue ", job->queue,
                             ": job timeout (", why, ")"));
    TimeOut(job->group);
  });
}

void Executor::Fatal(const std::shared_ptr<Job>& job, const std::string& what, uint32_t exception) {
  // Exception 0: the kernel made the queue fatal itself (a tiler OOM it refused).
  d_.out->Log(absl::StrCat(
      "panthor: group ", job->group->handle, " queue ", job->queue, ": ", what,
      exception ? absl::StrCat(" (CS_FATAL.EXCEPTION_TYPE 0x", absl::Hex(exception), ")")
                : std::string()));
}

void Executor::Stall(const std::shared_ptr<Job>& job, uint32_t status, uint64_t va) {
  if (job->finished) return;
  const int as = job->as;
  if (!d_.mmu->Enabled(as)) {
    KillGroup(job->group, 1u << job->queue);  // the AS died under it
    return;
  }
  stalled_[as].push_back(job);
  d_.fault->Miss(as, status, va);
}

void Executor::OnFaultCleared(int as) {
  std::vector<std::shared_ptr<Job>> stalled = std::move(stalled_[as]);
  stalled_[as].clear();
  for (auto& job : stalled) {
    if (!job->finished) d_.sched->After(0, [this, job] { Run(job); });
  }
}

void Executor::OnAsDisabled(int as) {
  std::vector<std::shared_ptr<Job>> stalled = std::move(stalled_[as]);
  stalled_[as].clear();
  for (auto& job : stalled) {
    if (!job->finished) KillGroup(job->group, 1u << job->queue);  // CS fault
  }
}

// panthor_sched_report_mmu_fault(): an immediate tick. The tick marks every
// group on a VM with unhandled faults fatal — all queues. series-v3 reports
// from inside the still-running work: a seed may let the tick run first and
// miss the fault (spec 7.1); series-fixed reports after.
void Executor::ReportMmuFault(uint64_t vm_key, uint64_t at_ns) {
  const uint64_t tick = Cost(d_.cost->sched_tick);
  uint64_t when = at_ns + tick;
  const uint64_t work_done = d_.fault->OpLockFreeAt(vm_key);
  if (!HasSeedDefects(d_.variant) || !d_.sched->prng().Chance(d_.v3_tick_race_permille, 1000)) {
    when = std::max(when, work_done + tick);
  } else {
    when = std::min(when, work_done);
  }
  d_.sched->At(when, [this, vm_key] {
    if (!d_.fault->HasUnhandledFaults(vm_key)) {
      ++stats_.v3_tick_missed_fault;
      return;
    }
    std::vector<std::shared_ptr<Group>> on_vm;
    for (const auto& [key, weak] : groups_) {
      std::shared_ptr<Group> g = weak.lock();
      if (g && g->vm->key() == vm_key) on_vm.push_back(std::move(g));
    }
    for (const auto& g : on_vm) {
      const uint32_t all = (1u << g->queues.size()) - 1;
      if (g->fatal_queues != all) KillGroup(g, all);
    }
  });
}

void Executor::Finish(const std::shared_ptr<Job>& job, int error) {
  if (job->finished) return;
  job->finished = true;
  if (job->run_started_ns) job->group->engine_ns += d_.sched->now_ns() + 1 - job->run_started_ns;
  Queue& q = job->group->queues[job->queue];
  ++(error == 0 ? stats_.jobs_completed : stats_.jobs_failed);
  if (job->as >= 0) {
    d_.mmu->Idle(job->group->vm->key());
    job->as = -1;
  }
  auto it = std::find(q.jobs.begin(), q.jobs.end(), job);
  const bool was_head = it == q.jobs.begin();
  if (it != q.jobs.end()) q.jobs.erase(it);
  if (was_head && q.running) {
    q.running = false;
    if (--running_queues_ == 0) d_.power->SetBusy(false, d_.sched->now_ns());
  }
  job->done->Signal(error);
  TryStart(q);
  RetryWaitingForAs();
}

void Executor::KillGroup(const std::shared_ptr<Group>& group, uint32_t fatal_queues) {
  if (fatal_queues) {
    if (group->fatal_queues == 0 && !(group->state & uapi::kPanthorGroupStateTimedout))
      ++stats_.groups_killed;
    group->state |= uapi::kPanthorGroupStateFatalFault;
    group->fatal_queues |= fatal_queues;
  }
  // group_term_post_processing(): a fatal queue's jobs fail with -EINVAL,
  // a timed-out group's others with -ETIMEDOUT, the rest are cancelled.
  const bool timedout = group->state & uapi::kPanthorGroupStateTimedout;
  for (uint32_t qi = 0; qi < group->queues.size(); ++qi) {
    std::deque<std::shared_ptr<Job>> jobs = group->queues[qi].jobs;
    for (auto& job : jobs) {
      for (auto& [as, list] : stalled_)
        list.erase(std::remove(list.begin(), list.end(), job), list.end());
      sync_waiters_.erase(std::remove(sync_waiters_.begin(), sync_waiters_.end(), job),
                          sync_waiters_.end());
      Finish(job, (group->fatal_queues >> qi) & 1 ? -uapi::kEINVAL
                  : timedout                      ? -uapi::kETIMEDOUT
                                                  : -uapi::kECANCELED);
    }
  }
}

void Executor::WakeSyncWaiters() {
  // A blocked queue runs again only when its condition holds now (it
  // re-executes the waiting instruction); the others keep waiting.
  std::vector<std::shared_ptr<Job>> waiters = std::move(sync_waiters_);
  sync_waiters_.clear();
  for (auto& job : waiters) {
    if (job->finished) continue;
    if (cs_.SyncWaitHolds(*job)) {
      Run(job);
    } else {
      sync_waiters_.push_back(job);
    }
  }
}

bool Executor::SyncWaitReleasable() {
  for (auto& job : sync_waiters_) {
    if (!job->finished && cs_.SyncWaitHolds(*job)) return true;
  }
  return false;
}

void Executor::TimeOut(const std::shared_ptr<Group>& group) {
  // queue_timedout(): the group is marked timed out (GROUP_GET_STATE's
  // TIMEDOUT, not FATAL_FAULT: no queue raised a fatal error) and terminated.
  if (group->fatal_queues == 0 && !(group->state & uapi::kPanthorGroupStateTimedout))
    ++stats_.groups_killed;
  group->state |= uapi::kPanthorGroupStateTimedout;
  KillGroup(group, 0);
}

}  // namespace faultlab::gpu
