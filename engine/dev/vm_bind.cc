// VM_BIND: panthor_ioctl_vm_bind() and its sync and async paths.
#include <algorithm>

#include "engine/dev/device.h"
#include "engine/dev/uobj.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT

// Models panthor_ioctl_vm_bind(): no check of unknown flags (PANTHOR_VM_BIND_FLAGS
// is defined but unused), ASYNC picks the path.
int Device::IoctlVmBind(File& f, void* data) {
  auto* a = static_cast<PanthorVmBind*>(data);
  auto it = f.vms_.find(a->vm_id);
  if (it == f.vms_.end()) return -kEINVAL;  // panthor_vm_pool_get_vm()
  if (a->flags & kPanthorVmBindAsync) return VmBindAsync(f, a, it->second);
  return VmBindSync(f, a, *it->second);
}

// Models panthor_vm_bind_prepare_op_ctx(): page alignment first, then by type.
int Device::PrepareBindOp(File& f, vm::Vm& vm, const PanthorVmBindOp& op, vm::OpCtx* ctx) {
  if ((op.va | op.size) & (kPageSize - 1)) return -kEINVAL;
  switch (op.flags & kPanthorVmBindOpTypeMask) {
    case kPanthorVmBindOpTypeMap: {
      auto it = f.handles_.find(op.bo_handle);
      // drm_gem_object_lookup() NULL -> panthor_vm_prepare_map_op_ctx(NULL): -EINVAL.
      std::shared_ptr<gem::Bo> bo = it == f.handles_.end() ? nullptr : it->second;
      return vm.PrepareMap(std::move(bo), op.bo_offset, op.size, op.va, op.flags, ctx);
    }
    case kPanthorVmBindOpTypeUnmap:
      if (op.flags & ~kPanthorVmBindOpTypeMask) return -kEINVAL;
      if (op.bo_handle || op.bo_offset) return -kEINVAL;
      return vm.PrepareUnmap(op.va, op.size, ctx);
    case kPanthorVmBindOpTypeSyncOnly:
      if (op.flags & ~kPanthorVmBindOpTypeMask) return -kEINVAL;
      if (op.bo_handle || op.bo_offset) return -kEINVAL;
      if (op.va || op.size) return -kEINVAL;
      if (!op.syncs.count) return -kEINVAL;
      vm.PrepareSyncOnly(ctx);
      return 0;
    default:
      return -kEINVAL;
  }
}

// Models panthor_ioctl_vm_bind_sync() + panthor_vm_bind_exec_sync_op().
int Device::VmBindSync(File& f, PanthorVmBind* args, vm::Vm& vm) {
  std::vector<PanthorVmBindOp> ops;
  int ret = GetUobjArray(*f.umem_, args->ops, kPanthorVmBindOpMinSize, &ops);
  if (ret) return ret;
  for (uint32_t i = 0; i < ops.size(); ++i) {
    const PanthorVmBindOp& op = ops[i];
    // Code order, not the doc's: syncs are refused first, then a size of 0 is
    // a successful no-op whatever the type.
    if (op.syncs.count) {
      ret = -kEINVAL;
    } else if (!op.size) {
      ret = 0;
    } else {
      vm::OpCtx ctx;
      ret = PrepareBindOp(f, vm, op, &ctx);
      if (ret == 0) ret = vm.Exec(ctx, /*flag_unusable_on_failure=*/false);
      if (ret == 0) mmu_.NoteCacheFlush();  // the page-table update's flush
      vm.Cleanup(ctx);
    }
    if (ret) {
      args->ops.count = i;  // so the user knows where things failed
      break;
    }
  }
  return ret;
}

// Models panthor_ioctl_vm_bind_async(): every op becomes a job on the VM's
// bind queue; all are validated and their resources reserved before any is
// queued, so a failure queues nothing. Jobs run in order once their wait
// fences signalled; a job that fails marks the VM unusable and signals its
// fence with the error.
int Device::VmBindAsync(File& f, PanthorVmBind* args, std::shared_ptr<vm::Vm> vm) {
  std::vector<PanthorVmBindOp> ops;
  int ret = GetUobjArray(*f.umem_, args->ops, kPanthorVmBindOpMinSize, &ops);
  if (ret) return ret;

  struct Job {
    std::unique_ptr<vm::OpCtx> ctx;
    std::vector<std::shared_ptr<sync::Fence>> waits;
    std::vector<std::pair<sync::Syncobj*, uint64_t>> signals;  // syncobj, point (0: binary)
    std::shared_ptr<sync::Fence> done = std::make_shared<sync::Fence>();
  };
  std::vector<std::shared_ptr<Job>> jobs;
  auto cleanup = [&] {
    for (auto& j : jobs) vm->Cleanup(*j->ctx);
  };
  for (const PanthorVmBindOp& op : ops) {
    // panthor_vm_bind_job_create().
    if (vm->destroyed() || vm->unusable()) ret = -kEINVAL;
    auto job = std::make_shared<Job>();
    job->ctx = std::make_unique<vm::OpCtx>();
    if (ret == 0) ret = PrepareBindOp(f, *vm, op, job->ctx.get());
    jobs.push_back(job);
    if (ret) break;
    // panthor_submit_ctx_add_job(): the sync ops.
    std::vector<PanthorSyncOp> syncs;
    ret = GetUobjArray(*f.umem_, op.syncs, sizeof(PanthorSyncOp), &syncs);
    if (ret == 0) ret = ResolveSyncOps(f, syncs, &job->waits, &job->signals);
    if (ret) break;
  }
  if (ret) {
    cleanup();
    return ret;
  }
  // panthor_submit_ctx_push_jobs(): the syncobjs get the jobs' fences now.
  for (auto& job : jobs) {
    for (auto& [obj, point] : job->signals) {
      if (point) {
        obj->AddPoint(point, job->done);
      } else {
        obj->ReplaceFence(job->done);
      }
    }
  }
  for (auto& job : jobs) {
    // The job runs after the previous job on this VM's queue and its waits.
    std::shared_ptr<sync::Fence>& tail = bind_queue_tail_[vm->key()];
    std::vector<std::shared_ptr<sync::Fence>> deps = job->waits;
    if (tail) deps.push_back(tail);
    tail = job->done;
    auto remaining = std::make_shared<size_t>(deps.size() + 1);
    auto run = [this, vm, job, remaining] {
      if (--*remaining != 0) return;
      // drm_sched picks the job; panthor_vm_bind_run_job() executes it.
      const uint64_t cost = config_.profile.cost.bind_job.Draw(sched_.prng());
      sched_.After(cost, [this, vm, job] {
        int r = 0;
        if (vm->destroyed()) {
          r = -kECANCELED;
        } else if (job->ctx->type != kPanthorVmBindOpTypeSyncOnly && job->ctx->range == 0) {
          r = 0;  // a size-0 op does nothing
        } else {
          r = vm->Exec(*job->ctx, /*flag_unusable_on_failure=*/true);
          if (r == 0) mmu_.NoteCacheFlush();
        }
        vm->Cleanup(*job->ctx);
        job->done->Signal(r);
      });
    };
    for (auto& d : deps) d->OnSignal(run);
    run();
  }
  return 0;
}

}  // namespace faultlab::dev
