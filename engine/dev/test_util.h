// Helpers for device tests: a device on a profile, and typed ioctls through a
// simulated user address space.
//
//   TestDevice t;                               // g610, series-fixed
//   PanthorBoCreate bo{.size = 4096};
//   EXPECT_EQ(t.Call(uapi::kPanthorIoctlBoCreate, &bo), 0);   // bo updated
#ifndef FAULTLAB_ENGINE_DEV_TEST_UTIL_H_
#define FAULTLAB_ENGINE_DEV_TEST_UTIL_H_

#include <cstdlib>
#include <memory>
#include <vector>

#include "engine/base/check.h"
#include "engine/dev/device.h"
#include "engine/usermem/sim_user_memory.h"

namespace faultlab::dev::testing {

inline DeviceConfig Config(Variant variant = Variant::kSeriesFixed, const char* profile = "g610") {
  absl::StatusOr<profiles::Profile> p = profiles::LoadProfile(profile);
  FAULTLAB_CHECK(p.ok(), p.status().message());
  DeviceConfig c;
  c.profile = *p;
  c.variant = variant;
  return c;
}

class TestDevice {
 public:
  // `observer`: every event from the first open on (a recorder).
  explicit TestDevice(DeviceConfig config = Config(), NodeType node = NodeType::kRender,
                      events::Observer* observer = nullptr)
      : dev(std::move(config)) {
    dev.set_observer(observer);
    file = dev.Open(node, &mem);
  }

  // Copies `*arg` into user memory, issues the ioctl, copies the result back.
  template <typename T>
  int Call(uint32_t request, T* arg, File* f = nullptr) {
    const uint64_t at = mem.Alloc(sizeof(T));
    mem.Write(at, arg, sizeof(T));
    const int ret = dev.Ioctl(f ? f : file, request, at);
    mem.Read(at, arg, sizeof(T));
    return ret;
  }

  // Places `n` bytes in user memory and returns the address.
  uint64_t Place(const void* data, size_t n) {
    const uint64_t at = mem.Alloc(n);
    mem.Write(at, data, n);
    return at;
  }

  // Creates a BO and returns its handle (0 on failure).
  uint32_t CreateBo(uint64_t size, uint32_t flags = 0, uint32_t granularity = 0,
                    uint32_t exclusive_vm = 0) {
    uapi::PanthorBoCreate a{};
    a.size = size;
    a.flags = flags;
    a.alloc_on_fault_granularity = granularity;
    a.exclusive_vm_id = exclusive_vm;
    return Call(uapi::kPanthorIoctlBoCreate, &a) == 0 ? a.handle : 0;
  }

  uint32_t CreateVm() {
    uapi::PanthorVmCreate v{};
    return Call(uapi::kPanthorIoctlVmCreate, &v) == 0 ? v.id : 0;
  }

  // A medium-priority group of `queues` 16 KiB queues on `vm`, every core
  // allowed (0 on failure).
  uint32_t CreateGroup(uint32_t vm, uint32_t queues = 1, File* f = nullptr) {
    std::vector<uapi::PanthorQueueCreate> qs(queues,
                                             uapi::PanthorQueueCreate{0, {0, 0, 0}, 16 * 1024});
    uapi::PanthorGroupCreate g{};
    g.queues = {sizeof(uapi::PanthorQueueCreate), queues,
                Place(qs.data(), qs.size() * sizeof(qs[0]))};
    g.priority = uapi::kPanthorGroupPriorityMedium;
    g.compute_core_mask = dev.profile().gpu_info.shader_present;
    g.fragment_core_mask = dev.profile().gpu_info.shader_present;
    g.tiler_core_mask = 1;
    g.max_compute_cores = 1;
    g.max_fragment_cores = 1;
    g.max_tiler_cores = 1;
    g.vm_id = vm;
    return Call(uapi::kPanthorIoctlGroupCreate, &g, f) == 0 ? g.group_handle : 0;
  }

  // VM_BIND with `ops`; returns the result and, through `count`, what the
  // kernel left in ops.count.
  int Bind(uint32_t vm_id, const std::vector<uapi::PanthorVmBindOp>& ops, uint32_t flags = 0,
           uint32_t* count = nullptr) {
    uapi::PanthorVmBind b{};
    b.vm_id = vm_id;
    b.flags = flags;
    b.ops.stride = sizeof(uapi::PanthorVmBindOp);
    b.ops.count = static_cast<uint32_t>(ops.size());
    b.ops.array = ops.empty() ? 0 : Place(ops.data(), ops.size() * sizeof(ops[0]));
    const int ret = Call(uapi::kPanthorIoctlVmBind, &b);
    if (count) *count = b.ops.count;
    return ret;
  }

  static uapi::PanthorVmBindOp MapOp(uint32_t bo, uint64_t offset, uint64_t va, uint64_t size,
                                     uint32_t flags = 0) {
    uapi::PanthorVmBindOp op{};
    op.flags = uapi::kPanthorVmBindOpTypeMap | flags;
    op.bo_handle = bo;
    op.bo_offset = offset;
    op.va = va;
    op.size = size;
    return op;
  }
  static uapi::PanthorVmBindOp UnmapOp(uint64_t va, uint64_t size) {
    uapi::PanthorVmBindOp op{};
    op.flags = uapi::kPanthorVmBindOpTypeUnmap;
    op.va = va;
    op.size = size;
    return op;
  }

  SimUserMemory mem;
  Device dev;
  File* file;
};

}  // namespace faultlab::dev::testing

#endif  // FAULTLAB_ENGINE_DEV_TEST_UTIL_H_
