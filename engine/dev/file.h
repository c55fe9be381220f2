// File: one open of a DRM node (struct drm_file + struct panthor_file) and
// the per-file object namespaces the ioctls look handles up in.
#ifndef FAULTLAB_ENGINE_DEV_FILE_H_
#define FAULTLAB_ENGINE_DEV_FILE_H_

#include <cstdint>
#include <map>
#include <memory>

#include "engine/gem/bo.h"
#include "engine/gpu/job.h"
#include "engine/sync/syncobj.h"
#include "engine/uapi/panthor.h"
#include "engine/usermem/user_memory.h"
#include "engine/vm/vm.h"

namespace faultlab::dev {

enum class NodeType { kPrimary, kRender };  // /dev/dri/card0, /dev/dri/renderD128

// What capable() would answer for the opening process, and whether it is a
// compat (32-bit) task.
struct Credentials {
  bool cap_sys_nice = false;
  bool cap_sys_admin = false;
  bool compat_task = false;
};

class File {
 public:
  uint32_t id() const { return id_; }
  NodeType node() const { return node_; }
  bool is_master() const { return master_; }
  UserMemory& user_memory() const { return *umem_; }
  size_t handle_count() const { return handles_.size(); }
  size_t vm_count() const { return vms_.size(); }
  size_t syncobj_count() const { return syncobjs_.size(); }
  // Where the file's user MMIO region starts in its mmap offsets.
  uint64_t user_mmio_offset() const { return user_mmio_offset_; }

 private:
  friend class Device;
  // The lowest free id of `m` from 1 (idr_alloc / xa_alloc(XA_LIMIT(1, ...))).
  template <typename Map>
  static uint32_t LowestFreeId(const Map& m) {
    uint32_t id = 1;
    for (const auto& entry : m) {
      if (entry.first != id) break;
      ++id;
    }
    return id;
  }

  uint32_t id_ = 0;  // device-wide, in opening order, from 1
  NodeType node_ = NodeType::kRender;
  bool master_ = false;
  Credentials creds_;
  // panthor_open(): 1<<56, or 1<<43 for a compat task; SET_USER_MMIO_OFFSET
  // (1.5) changes it.
  uint64_t user_mmio_offset_ = uapi::kPanthorUserMmioOffset64;
  // The process's memory; an ioctl with an observer swaps in a recording
  // view for the duration of the call.
  UserMemory* umem_ = nullptr;
  std::map<uint32_t, std::shared_ptr<gem::Bo>> handles_;  // object_idr
  std::map<uint32_t, std::shared_ptr<vm::Vm>> vms_;       // panthor_vm_pool
  // syncobj_idr: shared, since a syncobj fd (and the files it is imported
  // into) holds a syncobj too.
  std::map<uint32_t, std::shared_ptr<sync::Syncobj>> syncobjs_;
  std::map<uint32_t, std::shared_ptr<gpu::Group>> groups_;  // panthor_group_pool
  uint64_t retired_engine_ns_ = 0;  // destroyed groups' time on the GPU (fdinfo)
};

}  // namespace faultlab::dev

#endif  // FAULTLAB_ENGINE_DEV_FILE_H_
