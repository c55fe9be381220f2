#include "engine/workload/client.h"

namespace faultlab::workload {

using namespace uapi;  // NOLINT

Client::Client(dev::Device* dev, dev::NodeType node) : dev_(dev) {
  file_ = dev_->Open(node, &mem_);
}

Client::~Client() { dev_->Close(file_); }

uint64_t Client::Place(const void* data, size_t n) {
  const uint64_t at = mem_.Alloc(n);
  mem_.Write(at, data, n);
  return at;
}

uint32_t Client::CreateVm() {
  PanthorVmCreate v{};
  return Call(kPanthorIoctlVmCreate, &v) == 0 ? v.id : 0;
}

uint32_t Client::CreateBo(uint64_t size, uint32_t flags, uint32_t granularity) {
  // A kernel without the series (mainline) has no alloc-on-fault BOs (bit 1
  // is WB_MMAP there): the workload's BOs are plain ones, every page
  // allocated at bind — the baseline the series is measured against.
  if (!HasAllocOnFault(dev_->variant()) && (flags & kPanthorBoAllocOnFault)) {
    flags &= ~kPanthorBoAllocOnFault;
    granularity = 0;
  }
  PanthorBoCreate a{};
  a.size = size;
  a.flags = flags;
  a.alloc_on_fault_granularity = granularity;
  return Call(kPanthorIoctlBoCreate, &a) == 0 ? a.handle : 0;
}

void Client::CloseBo(uint32_t handle) {
  DrmGemClose c{handle, 0};
  Call(kDrmIoctlGemClose, &c);
}

int Client::Bind(uint32_t vm, const std::vector<PanthorVmBindOp>& ops, uint32_t flags) {
  PanthorVmBind b{};
  b.vm_id = vm;
  b.flags = flags;
  b.ops = {sizeof(PanthorVmBindOp), static_cast<uint32_t>(ops.size()),
           ops.empty() ? 0 : Place(ops.data(), ops.size() * sizeof(ops[0]))};
  const int ret = Call(kPanthorIoctlVmBind, &b);
  if (b.ops.array) Release(b.ops.array);
  return ret;
}

int Client::Map(uint32_t vm, uint32_t bo, uint64_t va, uint64_t size, uint32_t flags) {
  PanthorVmBindOp op{};
  op.flags = kPanthorVmBindOpTypeMap | flags;
  op.bo_handle = bo;
  op.va = va;
  op.size = size;
  return Bind(vm, {op});
}

int Client::Unmap(uint32_t vm, uint64_t va, uint64_t size) {
  PanthorVmBindOp op{};
  op.flags = kPanthorVmBindOpTypeUnmap;
  op.va = va;
  op.size = size;
  return Bind(vm, {op});
}

uint32_t Client::CreateGroup(uint32_t vm, uint32_t queues) {
  std::vector<PanthorQueueCreate> qs(queues, PanthorQueueCreate{0, {0, 0, 0}, 16 * 1024});
  PanthorGroupCreate g{};
  g.queues = {sizeof(PanthorQueueCreate), queues, Place(qs.data(), qs.size() * sizeof(qs[0]))};
  g.priority = kPanthorGroupPriorityMedium;
  g.compute_core_mask = dev_->profile().gpu_info.shader_present;
  g.fragment_core_mask = dev_->profile().gpu_info.shader_present;
  g.tiler_core_mask = dev_->profile().gpu_info.tiler_present;
  g.max_compute_cores = 1;
  g.max_fragment_cores = 1;
  g.max_tiler_cores = 1;
  g.vm_id = vm;
  const int ret = Call(kPanthorIoctlGroupCreate, &g);
  Release(g.queues.array);
  return ret == 0 ? g.group_handle : 0;
}

uint32_t Client::CreateSyncobj() {
  DrmSyncobjCreate c{0, 0};
  return Call(kDrmIoctlSyncobjCreate, &c) == 0 ? c.handle : 0;
}

int Client::Submit(uint32_t group, std::vector<gpu::GpuAccess> accesses, uint32_t syncobj,
                   uint32_t queue) {
  return dev_->SubmitAccessJob(file_, group, queue, std::move(accesses), syncobj, nullptr);
}

int Client::Wait(const std::vector<uint32_t>& syncobjs, int64_t deadline_ns) {
  const uint64_t h = Place(syncobjs.data(), syncobjs.size() * 4);
  DrmSyncobjWait w{h, deadline_ns, static_cast<uint32_t>(syncobjs.size()), 1 /*WAIT_ALL*/, 0, 0};
  const int ret = Call(kDrmIoctlSyncobjWait, &w);
  Release(h);
  return ret;
}

void Client::Reset(uint32_t syncobj) {
  const uint64_t h = Place(&syncobj, 4);
  DrmSyncobjArray a{h, 1, 0};
  Call(kDrmIoctlSyncobjReset, &a);
  Release(h);
}

void Client::Sleep(uint64_t ns) {
  if (sleeper_ == 0) sleeper_ = CreateSyncobj();
  const uint64_t h = Place(&sleeper_, 4);
  // WAIT_FOR_SUBMIT on a syncobj nobody signals: times out at the deadline.
  DrmSyncobjWait w{h, static_cast<int64_t>(dev_->now_ns() + ns), 1, 2 /*WAIT_FOR_SUBMIT*/, 0, 0};
  Call(kDrmIoctlSyncobjWait, &w);
  Release(h);
}

}  // namespace faultlab::workload
