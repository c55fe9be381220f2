// Executor: panthor_sched.c's job path and the emulated GPU that runs it.
//
// Jobs wait for their fences, then run one at a time per queue. A starting
// job schedules its group: the group's VM becomes active on an AS slot
// (panthor_vm_active(); a job waits when every slot is busy). The GPU then
// runs the job — access ranges page by page, or its command stream through
// the CsInterpreter — translating every access through the VM's page
// tables. A miss latches a fault (fault::FaultPath) and stalls the job on
// its AS until the fault is cleared (the job resumes) or the AS is disabled
// (the group's queue turns fatal). A tiler-OOM range asks heap::TilerHeaps
// to grow the heap. An unhandled fault reported by the fault path makes the
// next scheduler tick mark every group on the VM fatal.
//
//   Executor ex({&sched, &mmu, &fault_path, &heaps, &cost, variant, policy, &out, permille});
//   fault_path.set_listener(&ex);
//   ex.AddGroup(group);
//   ex.Submit(job);                        // runs in virtual time
#ifndef FAULTLAB_ENGINE_GPU_EXECUTOR_H_
#define FAULTLAB_ENGINE_GPU_EXECUTOR_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "engine/base/variant.h"
#include "engine/events/emitter.h"
#include "engine/fault/fault_path.h"
#include "engine/gpu/cs.h"
#include "engine/gpu/job.h"
#include "engine/heap/tiler_heaps.h"
#include "engine/mmu/mmu.h"
#include "engine/pm/power.h"
#include "engine/policy/policy.h"
#include "engine/profiles/profile.h"
#include "engine/sim/scheduler.h"

namespace faultlab::gpu {

struct ExecutorStats {
  uint64_t jobs_submitted = 0;
  uint64_t jobs_completed = 0;
  uint64_t jobs_failed = 0;
  uint64_t groups_killed = 0;
  // series-v3: the tick ran while the fault work was busy and missed the
  // fault; the group dies by the CS fault alone.
  uint64_t v3_tick_missed_fault = 0;
};

class Executor : public fault::Listener {
 public:
  struct Deps {
    sim::Scheduler* sched;
    mmu::Mmu* mmu;
    fault::FaultPath* fault;
    heap::TilerHeaps* heaps;
    const profiles::CostModel* cost;
    Variant variant;
    policy::FaultPolicy* policy;
    events::Emitter* out;
    // series-v3's scheduler tick can run while the fault work is still busy
    // and miss the fault (spec 7.1): the chance, per mille, that a seed picks
    // that order. Only the interleaving is chosen; both orders are legal.
    uint32_t v3_tick_race_permille;
    // A job still running this long after it started is killed (the
    // profile's job_timeout_ns, drm_sched's timeout).
    uint64_t job_timeout_ns;
    // Told when the GPU turns busy (a job runs on some queue) and idle.
    pm::Power* power;
    // STORE_STATE's timestamp and cycle counter rates.
    uint64_t timestamp_hz;
    uint64_t cycle_hz;
    // The command-stream interface and cores the streams run on.
    CsShape cs_shape;
  };
  explicit Executor(const Deps& deps);

  // A group is scheduled (and killed by ticks) from creation until Remove.
  void AddGroup(const std::shared_ptr<Group>& group);
  void RemoveGroup(const Group& group);

  // Queues `job` on its group's queue: it gets the next sequence number,
  // the policy's submit hook runs, its signal syncobjs get its fence.
  void Submit(std::shared_ptr<Job> job);
  // The sequence number the next queued job gets.
  uint64_t next_job_seq() const { return next_job_seq_; }
  // The group can't run any more: its jobs end — -EINVAL on the queues in
  // `fatal_queues` (the group turns FATAL_FAULT), -ETIMEDOUT on the others of
  // a timed-out group, -ECANCELED on the rest (group_term_post_processing());
  // a destroyed group's all -ECANCELED.
  void KillGroup(const std::shared_ptr<Group>& group, uint32_t fatal_queues);
  // A job of `group` ran past the job timeout.
  void TimeOut(const std::shared_ptr<Group>& group);
  // Memory may have changed (a CPU write seen at a submit or a live
  // device's step): every queue blocked on a SYNC_WAIT looks at its
  // condition again.
  void WakeSyncWaiters();
  // A queue is blocked on a SYNC_WAIT.
  bool sync_waiting() const { return !sync_waiters_.empty(); }
  // Some blocked queue's condition holds now (reads only: a live device
  // looks with it before it steps).
  bool SyncWaitReleasable();
  // Every range a stream stores to from now on is appended to `*log`.
  void LogWrites(std::vector<GpuWrite>* log) { cs_.set_write_log(log); }

  // fault::Listener.
  void OnFaultCleared(int as) override;
  void OnAsDisabled(int as) override;
  void ReportMmuFault(uint64_t vm_key, uint64_t at_ns) override;

  const ExecutorStats& stats() const { return stats_; }

 private:
  void TryStart(Queue& q);
  void Start(const std::shared_ptr<Job>& job);
  void RetryWaitingForAs();
  // Runs the job from where it stands (a slice: a scheduler event each).
  void Run(const std::shared_ptr<Job>& job);
  void RunAccesses(const std::shared_ptr<Job>& job);
  void RunStream(const std::shared_ptr<Job>& job);
  // The job's access missed: it stalls on its AS behind the latched fault.
  void Stall(const std::shared_ptr<Job>& job, uint32_t status, uint64_t va);
  void Finish(const std::shared_ptr<Job>& job, int error);
  // The job times out at its deadline (not before `earliest`), logging
  // `why`, unless it ends first; armed once per job.
  void ArmTimeout(const std::shared_ptr<Job>& job, uint64_t earliest, const char* why);
  void Fatal(const std::shared_ptr<Job>& job, const std::string& what, uint32_t exception);
  uint64_t Cost(const profiles::CostRange& c) { return c.Draw(d_.sched->prng()); }

  const Deps d_;
  CsInterpreter cs_;
  uint64_t next_job_seq_ = 1;
  // Live groups by (file id, handle): the order a tick walks them in (files
  // in opening order, then handles), as the kernel walks its group pools.
  std::map<std::pair<uint32_t, uint32_t>, std::weak_ptr<Group>> groups_;
  // Jobs stalled behind a latched fault, per AS, in stalling order: resumed
  // when it clears, killed when the AS is disabled, left waiting when the
  // VM lost the slot meanwhile.
  std::map<int, std::vector<std::shared_ptr<Job>>> stalled_;
  // Jobs whose VM found no free AS slot (-EBUSY): retried, in order, when a
  // job ends.
  std::deque<std::shared_ptr<Job>> waiting_for_as_;
  // Jobs blocked on a SYNC_WAIT, in blocking order: woken by any store.
  std::vector<std::shared_ptr<Job>> sync_waiters_;
  size_t running_queues_ = 0;  // queues whose front job has started
  ExecutorStats stats_;
};

}  // namespace faultlab::gpu

#endif  // FAULTLAB_ENGINE_GPU_EXECUTOR_H_
