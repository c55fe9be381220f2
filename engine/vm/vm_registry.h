// VmRegistry: every VM of a device by its key (the device-wide identity the
// trace's `vm` fields carry), held weakly: a VM lives while a file's VM pool
// or a job holds it. Keys are handed out in creation order from 1 and never
// reused.
//
//   VmRegistry vms;
//   auto vm = std::make_shared<Vm>(vms.NextKey(), ...);
//   vms.Add(vm);
//   std::shared_ptr<Vm> same = vms.Find(vm->key());
#ifndef FAULTLAB_ENGINE_VM_VM_REGISTRY_H_
#define FAULTLAB_ENGINE_VM_VM_REGISTRY_H_

#include <cstdint>
#include <map>
#include <memory>

#include "engine/vm/vm.h"

namespace faultlab::vm {

class VmRegistry {
 public:
  uint64_t NextKey() { return next_key_++; }
  void Add(const std::shared_ptr<Vm>& vm) { vms_[vm->key()] = vm; }
  // nullptr when the VM is gone (or never was).
  std::shared_ptr<Vm> Find(uint64_t key) const {
    auto it = vms_.find(key);
    return it == vms_.end() ? nullptr : it->second.lock();
  }
  // By key, ascending: the order hashes and checks walk them in.
  const std::map<uint64_t, std::weak_ptr<Vm>>& all() const { return vms_; }

 private:
  uint64_t next_key_ = 1;
  std::map<uint64_t, std::weak_ptr<Vm>> vms_;
};

}  // namespace faultlab::vm

#endif  // FAULTLAB_ENGINE_VM_VM_REGISTRY_H_
