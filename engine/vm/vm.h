// Vm: a panthor GPU VM (struct panthor_vm) — for now its identity, VA layout
// and usability; the VA space, page tables and binding arrive with Engine B.
#ifndef FAULTLAB_ENGINE_VM_VM_H_
#define FAULTLAB_ENGINE_VM_VM_H_

#include <cstdint>

namespace faultlab::vm {

class Vm {
 public:
  // `key` is device-wide and never reused (the identity an exclusive BO's
  // root-GEM pointer gives in the kernel).
  Vm(uint64_t key, uint32_t va_bits, uint64_t kernel_va_start, uint64_t kernel_va_range)
      : key_(key),
        va_bits_(va_bits),
        kernel_va_start_(kernel_va_start),
        kernel_va_range_(kernel_va_range) {}

  uint64_t key() const { return key_; }
  // The GPUVM covers [0, 1 << va_bits) (panthor_vm_create()).
  uint64_t va_range() const { return 1ULL << va_bits_; }
  // User VA is [0, kernel_va_start); the kernel VA [kernel_va_start, +range).
  uint64_t kernel_va_start() const { return kernel_va_start_; }
  uint64_t kernel_va_range() const { return kernel_va_range_; }

  // Set when an async bind failed: later binds are -EINVAL (spec 2.5).
  bool unusable() const { return unusable_; }
  void set_unusable() { unusable_ = true; }
  // Set by VM_DESTROY; the object lives on while BOs or jobs reference it.
  bool destroyed() const { return destroyed_; }
  void set_destroyed() { destroyed_ = true; }

 private:
  uint64_t key_;
  uint32_t va_bits_;
  uint64_t kernel_va_start_;
  uint64_t kernel_va_range_;
  bool unusable_ = false;
  bool destroyed_ = false;
};

}  // namespace faultlab::vm

#endif  // FAULTLAB_ENGINE_VM_VM_H_
