// panthor's device queries and VM lifetime ioctls (panthor_drv.c,
// panthor_mmu.c): DEV_QUERY, VM_CREATE, VM_DESTROY, VM_GET_STATE.
#include <algorithm>

#include "engine/dev/device.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT: the ABI's names read best unqualified here

namespace {

uint64_t RoundDownPow2(uint64_t x) { return x == 0 ? 0 : 1ULL << (63 - __builtin_clzll(x)); }

}  // namespace

uint64_t Device::CurrentGpuTimestamp() const {
  // The GPU timestamp counter runs at the arch timer frequency.
  const uint64_t hz = config_.profile.timestamp_frequency;
  return static_cast<uint64_t>(static_cast<unsigned __int128>(sched_.now_ns()) * hz /
                               1'000'000'000ULL);
}

// Models panthor_ioctl_dev_query() with PANTHOR_UOBJ_SET (panthor_set_uobj()).
int Device::IoctlDevQuery(File& f, void* data) {
  auto* q = static_cast<PanthorDevQuery*>(data);
  PanthorTimestampInfo ts{};
  PanthorGroupPrioritiesInfo prio{};
  PanthorGpuInfo gpu = config_.profile.gpu_info;
  const void* obj;
  uint32_t kern_size, min_size;
  switch (q->type) {
    case kPanthorDevQueryGpuInfo:
      // 1.7 says which coherency protocol panthor_gpu_coherency_init() chose:
      // none, as the profiles' SoCs integrate the GPU without I/O coherency.
      gpu.selected_coherency = DriverMinor(config_.variant) >= 7 ? kGpuCoherencyNone : 0;
      obj = &gpu;
      kern_size = sizeof(PanthorGpuInfo);
      min_size = kPanthorGpuInfoMinSize;
      break;
    case kPanthorDevQueryCsifInfo:
      obj = &config_.profile.csif_info;
      kern_size = sizeof(PanthorCsifInfo);
      min_size = kPanthorCsifInfoMinSize;
      break;
    case kPanthorDevQueryTimestampInfo:
      ts.timestamp_frequency = config_.profile.timestamp_frequency;
      ts.current_timestamp = CurrentGpuTimestamp();
      ts.timestamp_offset = 0;
      obj = &ts;
      kern_size = sizeof(ts);
      min_size = kPanthorTimestampInfoMinSize;
      break;
    case kPanthorDevQueryGroupPrioritiesInfo:
      // panthor_query_group_priorities_info(): LOW and MEDIUM always; HIGH and
      // REALTIME with CAP_SYS_NICE or as DRM master (group_priority_permit()).
      prio.allowed_mask = 1u << kPanthorGroupPriorityLow | 1u << kPanthorGroupPriorityMedium;
      if (f.creds_.cap_sys_nice || f.master_) {
        prio.allowed_mask |= 1u << kPanthorGroupPriorityHigh | 1u << kPanthorGroupPriorityRealtime;
      }
      obj = &prio;
      kern_size = sizeof(prio);
      min_size = kPanthorGroupPrioritiesInfoMinSize;
      break;
    default:
      return -kEINVAL;
  }
  if (q->pointer == 0) {
    q->size = kern_size;  // size negotiation
    return 0;
  }
  if (q->size < min_size) return -kEINVAL;
  if (f.umem_->CopyToUser(q->pointer, obj, std::min(q->size, kern_size)) != 0) return -kEFAULT;
  if (q->size > kern_size && f.umem_->ClearUser(q->pointer + kern_size, q->size - kern_size) != 0) {
    return -kEFAULT;
  }
  return 0;
}

// Models panthor_ioctl_vm_create() -> panthor_vm_pool_create_vm() with
// panthor_vm_create_check_args() and panthor_vm_create_get_user_va_range().
int Device::IoctlVmCreate(File& f, void* data) {
  auto* a = static_cast<PanthorVmCreate*>(data);
  const uint32_t va_bits = config_.profile.va_bits();
  const uint64_t full = 1ULL << va_bits;
  if (a->flags != 0) return -kEINVAL;  // PANTHOR_VM_CREATE_FLAGS is 0
  uint64_t user = 0;
  if (full >= kPanthorVmMinKernelVaSize) {
    if (a->user_va_range) {
      user = a->user_va_range;
    } else if (config_.profile.task_size < full) {
      user = config_.profile.task_size;
    } else {
      user = full > (4ULL << 30) ? full / 2 : full - kPanthorVmMinKernelVaSize;
    }
    if (full - kPanthorVmMinKernelVaSize < user) user = full - kPanthorVmMinKernelVaSize;
  }
  if (user == 0 || (a->user_va_range && a->user_va_range > user)) return -kEINVAL;
  const uint64_t kernel_range = RoundDownPow2(full - user);
  const uint64_t kernel_start = full - kernel_range;
  // xa_alloc(XA_LIMIT(1, PANTHOR_MAX_VMS_PER_FILE)): lowest free id, -EBUSY when full.
  const uint32_t id = File::LowestFreeId(f.vms_);
  // panthor_vm_create() (root page table, GFP_KERNEL) runs before xa_alloc().
  auto vm = std::make_shared<vm::Vm>(vms_.NextKey(), va_bits, kernel_start, kernel_range, &memory_,
                                     config_.variant, this);
  if (!vm->ok()) return -kENOMEM;
  if (int ret = policy_->OnVmCreate(*vm); ret) return ret;
  if (id > kPanthorMaxVmsPerFile) return -kEBUSY;
  vms_.Add(vm);
  f.vms_[id] = std::move(vm);
  a->id = id;
  a->user_va_range = kernel_start;
  return 0;
}

// Models panthor_ioctl_vm_destroy() -> panthor_vm_pool_destroy_vm().
int Device::IoctlVmDestroy(File& f, void* data) {
  auto* a = static_cast<PanthorVmDestroy*>(data);
  if (a->pad) return -kEINVAL;
  auto it = f.vms_.find(a->id);
  if (it == f.vms_.end()) return -kEINVAL;
  DestroyVm(*it->second);
  f.vms_.erase(it);
  return 0;
}

// Models panthor_ioctl_vm_get_state().
int Device::IoctlVmGetState(File& f, void* data) {
  auto* a = static_cast<PanthorVmGetState*>(data);
  auto it = f.vms_.find(a->vm_id);
  if (it == f.vms_.end()) return -kEINVAL;
  a->state = it->second->unusable() ? kPanthorVmStateUnusable : kPanthorVmStateUsable;
  return 0;
}

}  // namespace faultlab::dev
