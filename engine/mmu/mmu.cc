#include "engine/mmu/mmu.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "engine/uapi/errno.h"

namespace faultlab::mmu {

const char* ExceptionName(uint32_t e) {
  // enum drm_panthor_exception_type names (spec 3.2).
  switch (e) {
    case 0x00:
      return "OK";
    case 0x04:
      return "TERMINATED";
    case 0x05:
      return "KABOOM";
    case 0x06:
      return "EUREKA";
    case 0x08:
      return "ACTIVE";
    case 0x0f:
      return "CS_RES_TERM";
    case 0x3f:
      return "MAX_NON_FAULT";
    case 0x40:
      return "CS_CONFIG_FAULT";
    case 0x41:
      return "CS_UNRECOVERABLE";
    case 0x44:
      return "CS_ENDPOINT_FAULT";
    case 0x48:
      return "CS_BUS_FAULT";
    case 0x49:
      return "CS_INSTR_INVALID";
    case 0x4a:
      return "CS_CALL_STACK_OVERFLOW";
    case 0x4b:
      return "CS_INHERIT_FAULT";
    case 0x50:
      return "INSTR_INVALID_PC";
    case 0x51:
      return "INSTR_INVALID_ENC";
    case 0x55:
      return "INSTR_BARRIER_FAULT";
    case 0x58:
      return "DATA_INVALID_FAULT";
    case 0x59:
      return "TILE_RANGE_FAULT";
    case 0x5a:
      return "ADDR_RANGE_FAULT";
    case 0x5b:
      return "IMPRECISE_FAULT";
    case 0x60:
      return "OOM";
    case 0x68:
      return "CSF_FW_INTERNAL_ERROR";
    case 0x69:
      return "CSF_RES_EVICTION_TIMEOUT";
    case 0x80:
      return "GPU_BUS_FAULT";
    case 0x88:
      return "GPU_SHAREABILITY_FAULT";
    case 0x89:
      return "SYS_SHAREABILITY_FAULT";
    case 0x8a:
      return "GPU_CACHEABILITY_FAULT";
    case 0xc0:
      return "TRANSLATION_FAULT_0";
    case 0xc1:
      return "TRANSLATION_FAULT_1";
    case 0xc2:
      return "TRANSLATION_FAULT_2";
    case 0xc3:
      return "TRANSLATION_FAULT_3";
    case 0xc4:
      return "TRANSLATION_FAULT_4";
    case 0xc8:
      return "PERM_FAULT_0";
    case 0xc9:
      return "PERM_FAULT_1";
    case 0xca:
      return "PERM_FAULT_2";
    case 0xcb:
      return "PERM_FAULT_3";
    case 0xd9:
      return "ACCESS_FLAG_1";
    case 0xda:
      return "ACCESS_FLAG_2";
    case 0xdb:
      return "ACCESS_FLAG_3";
    case 0xe0:
      return "ADDR_SIZE_FAULT_IN";
    case 0xe4:
      return "ADDR_SIZE_FAULT_OUT0";
    case 0xe5:
      return "ADDR_SIZE_FAULT_OUT1";
    case 0xe6:
      return "ADDR_SIZE_FAULT_OUT2";
    case 0xe7:
      return "ADDR_SIZE_FAULT_OUT3";
    case 0xe8:
      return "MEM_ATTR_FAULT_0";
    case 0xe9:
      return "MEM_ATTR_FAULT_1";
    case 0xea:
      return "MEM_ATTR_FAULT_2";
    case 0xeb:
      return "MEM_ATTR_FAULT_3";
    default:
      return "Unknown exception type";
  }
}

const char* AccessTypeName(uint32_t a) {
  switch (a & 3) {
    case kAccessAtomic:
      return "ATOMIC";
    case kAccessExecute:
      return "EXECUTE";
    case kAccessRead:
      return "READ";
    default:
      return "WRITE";
  }
}

std::string FormatFaultLog(int as, uint64_t addr, uint32_t status) {
  const uint32_t exception = status & 0xff;
  const uint32_t access = (status >> 8) & 0x3;
  return absl::StrFormat(
      "Unhandled Page fault in AS%d at VA 0x%016X\nraw fault status: 0x%X\n"
      "decoded fault status: %s\nexception type 0x%X: %s\naccess type 0x%X: %s\n"
      "source id 0x%X\n",
      as, addr, status, (status & kDecoderFault) ? "DECODER FAULT" : "SLAVE FAULT", exception,
      ExceptionName(exception), access, AccessTypeName(access), status >> 16);
}

Mmu::Mmu(uint32_t as_present) : as_present_(as_present & 0xffff) {}

int Mmu::SlotOf(uint64_t vm_key) const {
  auto it = vms_.find(vm_key);
  return it == vms_.end() ? kNoSlot : it->second.as;
}

uint64_t Mmu::VmInSlot(int as) const { return as >= 0 && as < kMaxAs ? slots_[as].vm_key : 0; }

bool Mmu::Active(uint64_t vm_key) const {
  auto it = vms_.find(vm_key);
  return it != vms_.end() && it->second.active_cnt > 0;
}

int Mmu::Activate(uint64_t vm_key, uint64_t* evicted) {
  *evicted = 0;
  VmState& v = vms_[vm_key];
  if (v.active_cnt > 0) {  // refcount_inc_not_zero fast path
    ++v.active_cnt;
    return v.as;
  }
  int as = v.as;
  if (as == kNoSlot) {
    // as = ffz(alloc_mask | BIT(0)); outside AS_PRESENT: evict the LRU head.
    as = __builtin_ctz(~(alloc_mask_ | 1u));
    if (as >= kMaxAs || !(as_present_ & (1u << as))) {
      if (lru_.empty()) return -uapi::kEBUSY;
      const uint64_t victim = lru_.front();
      lru_.pop_front();
      VmState& vv = vms_[victim];
      as = vv.as;
      vv.as = kNoSlot;  // panthor_vm_release_as_locked(): no disable or flush here
      vv.active_cnt = 0;
      *evicted = victim;
      ++evictions_;
    }
    alloc_mask_ |= 1u << as;
    slots_[as].vm_key = vm_key;
    v.as = as;
    Enable(as);  // panthor_mmu_as_enable(): FLUSH_MEM, TRANSTAB, MEMATTR, TRANSCFG, UPDATE
  } else {
    lru_.remove(vm_key);
  }
  if (faulty_mask_ & (1u << as)) {
    // Unhandled fault on this AS: clear it and re-enable interrupts first.
    Clear(1u << as);
    faulty_mask_ &= ~(1u << as);
    int_mask_ = ~faulty_mask_ & 0xffff;
    Enable(as);
  }
  v.active_cnt = 1;
  return as;
}

void Mmu::Idle(uint64_t vm_key) {
  auto it = vms_.find(vm_key);
  if (it == vms_.end() || it->second.active_cnt == 0) return;
  if (--it->second.active_cnt == 0 && it->second.as != kNoSlot) lru_.push_back(vm_key);
}

void Mmu::Release(uint64_t vm_key) {
  auto it = vms_.find(vm_key);
  if (it == vms_.end()) return;
  if (it->second.as != kNoSlot) {
    const int as = it->second.as;
    alloc_mask_ &= ~(1u << as);
    slots_[as].vm_key = 0;
    enabled_ &= ~(1u << as);
  }
  lru_.remove(vm_key);
  vms_.erase(it);
}

bool Mmu::RaiseFault(int as, uint32_t status, uint64_t addr) {
  if (rawstat_ & (1u << as)) return false;
  rawstat_ |= 1u << as;
  fault_status_[as] = status;
  fault_addr_[as] = addr;
  return true;
}

void Mmu::Clear(uint32_t bits) { rawstat_ &= ~bits; }

void Mmu::Disable(int as) { enabled_ &= ~(1u << as); }

std::string Mmu::CheckInvariants() const {
  for (const auto& [key, v] : vms_) {
    if (v.as != kNoSlot && slots_[v.as].vm_key != key) return absl::StrFormat("VM %d slot", key);
    if (v.as == 0) return "a user VM in AS0";
  }
  for (uint64_t key : lru_) {
    auto it = vms_.find(key);
    if (it == vms_.end() || it->second.active_cnt != 0 || it->second.as == kNoSlot) {
      return "LRU holds an active or slotless VM";
    }
  }
  if (alloc_mask_ & ~(as_present_ | 1u)) return "slot outside AS_PRESENT";
  return "";
}

}  // namespace faultlab::mmu
