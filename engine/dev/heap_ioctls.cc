// Tiler heaps' ioctls (panthor_drv.c): TILER_HEAP_CREATE and _DESTROY look
// the VM up; heap::TilerHeaps does the rest.
#include "engine/dev/device.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT: the ABI's names read best unqualified here

// Models panthor_ioctl_tiler_heap_create() -> panthor_heap_create().
int Device::IoctlTilerHeapCreate(File& f, void* data) {
  auto* a = static_cast<PanthorTilerHeapCreate*>(data);
  auto vit = f.vms_.find(a->vm_id);
  if (vit == f.vms_.end()) return -kEINVAL;
  heap::HeapCreated out;
  const int ret = heaps_.Create(
      *vit->second, a->vm_id,
      {a->initial_chunk_count, a->chunk_size, a->max_chunks, a->target_in_flight}, &out);
  if (ret) return ret;
  a->handle = out.handle;
  a->tiler_heap_ctx_gpu_va = out.ctx_va;
  a->first_heap_chunk_gpu_va = out.first_chunk_va;
  return 0;
}

// Models panthor_ioctl_tiler_heap_destroy() -> panthor_heap_destroy().
int Device::IoctlTilerHeapDestroy(File& f, void* data) {
  auto* a = static_cast<PanthorTilerHeapDestroy*>(data);
  if (a->pad) return -kEINVAL;
  auto vit = f.vms_.find(a->handle >> 16);
  if (vit == f.vms_.end()) return -kEINVAL;
  return heaps_.Destroy(*vit->second, a->handle);
}

}  // namespace faultlab::dev
