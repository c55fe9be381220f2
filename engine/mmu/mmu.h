// Mmu: the GPU MMU's address-space slots and interrupt registers as panthor
// drives them (spec 3.1, 3.3, 7.1; panthor_mmu.c).
//
// Slots: AS0 belongs to the firmware (MCU) VM; a user VM takes the first free
// slot in AS_PRESENT (ffz(alloc_mask | BIT(0))), else the least recently idled
// VM is evicted (EBUSY when no VM is idle). A VM keeps its slot while idle
// (lazily), so a reactivation is free. Registers: MMU_INT_RAWSTAT (a page-fault
// bit per AS, low 16 bits), MASK, CLEAR, and per AS FAULTSTATUS / FAULTADDRESS.
// A fault bit stays latched until cleared (clearing resumes the stalled
// access); disabling the AS kills it instead.
//
//   Mmu mmu(0xff);
//   int as = mmu.Activate(vm_key);      // slot or -EBUSY
//   mmu.RaiseFault(as, status, addr);  // the GPU missed
#ifndef FAULTLAB_ENGINE_MMU_MMU_H_
#define FAULTLAB_ENGINE_MMU_MMU_H_

#include <cstdint>
#include <list>
#include <map>
#include <string>

namespace faultlab::mmu {

// AS_FAULTSTATUS fields (panthor_regs.h).
constexpr uint32_t kAccessAtomic = 0;
constexpr uint32_t kAccessExecute = 1;
constexpr uint32_t kAccessRead = 2;
constexpr uint32_t kAccessWrite = 3;
constexpr uint32_t kTranslationFault0 = 0xc0;  // + level
constexpr uint32_t kPermFault0 = 0xc8;         // + level
constexpr uint32_t kDecoderFault = 1u << 10;

inline uint32_t FaultStatus(uint32_t exception, uint32_t access, uint32_t source_id) {
  return exception | access << 8 | kDecoderFault | source_id << 16;
}

// panthor_exception_name(): "TRANSLATION_FAULT_3", ..., "Unknown exception type".
const char* ExceptionName(uint32_t exception_type);
// access_type_name(): "ATOMIC", "EXECUTE", "READ", "WRITE".
const char* AccessTypeName(uint32_t access_type);
// The kernel's log lines for an unhandled fault (panthor_vm_handle_fault_locked()).
std::string FormatFaultLog(int as, uint64_t addr, uint32_t status);

class Mmu {
 public:
  static constexpr int kNoSlot = -1;
  static constexpr int kMaxAs = 16;  // the IRQ mask covers AS 0-15

  explicit Mmu(uint32_t as_present);

  // Models panthor_vm_active(): returns the VM's slot, allocating or evicting
  // as needed, or -EBUSY. Re-activating a faulty AS clears its fault bit and
  // re-enables it. `*evicted` gets the key of an evicted VM (0 if none).
  int Activate(uint64_t vm_key, uint64_t* evicted);
  // Models panthor_vm_idle(): the last user went away; the VM joins the LRU.
  void Idle(uint64_t vm_key);
  // Models panthor_vm_release_as_locked() when a VM dies.
  void Release(uint64_t vm_key);
  int SlotOf(uint64_t vm_key) const;
  uint64_t VmInSlot(int as) const;  // 0 if none
  bool Active(uint64_t vm_key) const;

  // The GPU missed a translation on `as`: latch status and address, set the
  // RAWSTAT bit. Returns false if a fault was already latched on that AS (the
  // MMU stalls further accesses behind it).
  bool RaiseFault(int as, uint32_t status, uint64_t addr);
  // MMU_INT_CLEAR: clears the bits; the stalled access on those AS resumes.
  void Clear(uint32_t bits);
  // panthor_mmu_as_disable(): the AS stops translating; its stalled access dies.
  void Disable(int as);
  bool Enabled(int as) const { return enabled_ & (1u << as); }

  uint32_t rawstat() const { return rawstat_; }
  uint32_t int_mask() const { return int_mask_; }
  void set_int_mask(uint32_t m) { int_mask_ = m & 0xffff; }
  uint32_t faulty_mask() const { return faulty_mask_; }
  void set_faulty_mask(uint32_t m) { faulty_mask_ = m; }
  uint32_t fault_status(int as) const { return fault_status_[as]; }
  uint64_t fault_address(int as) const { return fault_addr_[as]; }
  uint32_t as_present() const { return as_present_; }
  uint64_t evictions() const { return evictions_; }

  // The GPU's LATEST_FLUSH_ID register (GPU_LATEST_FLUSH_ID, the page a
  // file maps at its user MMIO offset): it counts the cache flushes the GPU
  // did — the flush panthor ends every page-table update with, and every
  // FLUSH_CACHE2 a stream ran. A queue submit's latest_flush quotes it. Bits
  // 30:24 are reserved (panthor_job_create()): the count wraps at 24 bits.
  void NoteCacheFlush() { latest_flush_id_ = (latest_flush_id_ + 1) & 0xffffff; }
  uint32_t latest_flush_id() const { return latest_flush_id_; }

  std::string CheckInvariants() const;

 private:
  struct SlotState {
    uint64_t vm_key = 0;
  };
  struct VmState {
    int as = kNoSlot;
    uint32_t active_cnt = 0;
  };
  void Enable(int as) { enabled_ |= 1u << as; }

  uint32_t as_present_;
  uint32_t alloc_mask_ = 1;  // AS0: the firmware VM
  uint32_t enabled_ = 1;
  uint32_t faulty_mask_ = 0;
  uint32_t rawstat_ = 0;
  uint32_t int_mask_ = 0xffff;
  uint32_t fault_status_[kMaxAs] = {};
  uint64_t fault_addr_[kMaxAs] = {};
  SlotState slots_[kMaxAs];
  std::map<uint64_t, VmState> vms_;
  std::list<uint64_t> lru_;  // idle VMs holding a slot, least recently idled first
  uint64_t evictions_ = 0;
  uint32_t latest_flush_id_ = 0;
};

}  // namespace faultlab::mmu

#endif  // FAULTLAB_ENGINE_MMU_MMU_H_
