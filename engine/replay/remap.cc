#include "engine/replay/remap.h"

#include <cstddef>
#include <cstring>

#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"

namespace faultlab::replay {
namespace {

using namespace uapi;  // NOLINT

uint32_t U32At(const std::string& s, size_t offset) {
  uint32_t v = 0;
  if (offset + 4 <= s.size()) std::memcpy(&v, s.data() + offset, 4);
  return v;
}

// Where a creation ioctl writes the new object's id (uapi/panthor.h layouts).
struct Creation {
  uint32_t request;
  int kind;
  size_t offset;
};

}  // namespace

bool Remapper::Map(uint32_t file, Kind kind, uint32_t* id) const {
  auto it = ids_.find({file, kind, *id});
  if (it == ids_.end()) return true;  // never created by the recording
  if (it->second == 0) return false;  // its creation failed here
  remapped_ += it->second != *id;
  *id = it->second;
  return true;
}

bool Remapper::MapAt(uint32_t file, Kind kind, std::string* arg, size_t offset) {
  if (offset + 4 > arg->size()) return true;
  uint32_t id = U32At(*arg, offset);
  if (!Map(file, kind, &id)) return false;
  std::memcpy(arg->data() + offset, &id, 4);
  return true;
}

bool Remapper::Rewrite(const trace::Ioctl& io, std::string* arg, SimUserMemory& mem) {
  // Where each request names an object in its argument (uapi/panthor.h,
  // uapi/drm.h layouts). A BO's exclusive VM id 0 means none, and no VM has id 0.
  struct Reference {
    uint32_t request;
    Kind kind;
    size_t offset;
  };
  static constexpr Reference kReferences[] = {
      {kDrmIoctlGemClose, kBo, offsetof(DrmGemClose, handle)},
      {kPanthorIoctlBoMmapOffset, kBo, offsetof(PanthorBoMmapOffset, handle)},
      {kPanthorIoctlBoCreate, kVm, offsetof(PanthorBoCreate, exclusive_vm_id)},
      {kPanthorIoctlVmDestroy, kVm, offsetof(PanthorVmDestroy, id)},
      {kPanthorIoctlVmGetState, kVm, offsetof(PanthorVmGetState, vm_id)},
      {kPanthorIoctlVmBind, kVm, offsetof(PanthorVmBind, vm_id)},
      {kPanthorIoctlGroupCreate, kVm, offsetof(PanthorGroupCreate, vm_id)},
      {kPanthorIoctlGroupDestroy, kGroup, offsetof(PanthorGroupDestroy, group_handle)},
      {kPanthorIoctlGroupSubmit, kGroup, offsetof(PanthorGroupSubmit, group_handle)},
      {kPanthorIoctlGroupGetState, kGroup, offsetof(PanthorGroupGetState, group_handle)},
      {kPanthorIoctlTilerHeapCreate, kVm, offsetof(PanthorTilerHeapCreate, vm_id)},
      {kPanthorIoctlTilerHeapDestroy, kHeap, offsetof(PanthorTilerHeapDestroy, handle)},
  };
  for (const Reference& r : kReferences) {
    if (io.request == r.request && !MapAt(io.file, r.kind, arg, r.offset)) return false;
  }
  if (io.request != kPanthorIoctlVmBind || arg->size() < sizeof(PanthorVmBind)) return true;
  PanthorVmBind b;
  std::memcpy(&b, arg->data(), sizeof(b));
  // Each MAP op's BO handle, in the op array the recording captured (already
  // written to `mem`); a bad array is the kernel's to refuse.
  if (b.ops.stride < offsetof(PanthorVmBindOp, bo_handle) + 4 || b.ops.count > 4096) return true;
  for (uint32_t i = 0; i < b.ops.count; ++i) {
    const uint64_t at = b.ops.array + static_cast<uint64_t>(i) * b.ops.stride;
    if (!mem.IsMapped(at, sizeof(PanthorVmBindOp))) return true;
    PanthorVmBindOp op;
    mem.Read(at, &op, sizeof(op));
    if ((op.flags & kPanthorVmBindOpTypeMask) != kPanthorVmBindOpTypeMap) continue;
    if (!Map(io.file, kBo, &op.bo_handle)) return false;
    mem.Write(at, &op, sizeof(op));
  }
  return true;
}

void Remapper::Learn(const trace::Ioctl& io, int result, const std::string& out) {
  static constexpr Creation kCreations[] = {
      {kPanthorIoctlBoCreate, kBo, offsetof(PanthorBoCreate, handle)},
      {kPanthorIoctlVmCreate, kVm, offsetof(PanthorVmCreate, id)},
      {kPanthorIoctlGroupCreate, kGroup, offsetof(PanthorGroupCreate, group_handle)},
      {kPanthorIoctlTilerHeapCreate, kHeap, offsetof(PanthorTilerHeapCreate, handle)},
  };
  if (io.result != 0) return;  // the recording created nothing
  const std::string recorded_out(io.arg_out.data(), io.arg_out.size());
  for (const Creation& c : kCreations) {
    if (io.request != c.request || c.offset + 4 > recorded_out.size()) continue;
    const uint32_t recorded = U32At(recorded_out, c.offset);
    ids_[{io.file, c.kind, recorded}] = result == 0 ? U32At(out, c.offset) : 0;
  }
}

}  // namespace faultlab::replay
