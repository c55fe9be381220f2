// Vm: a panthor GPU VM (struct panthor_vm): a VA space with drm_gpuvm
// semantics over an ARM_64_LPAE_S1 page table, bound through VM_BIND
// operations in two phases, as panthor does:
//
//  - prepare (panthor_vm_prepare_{map,unmap}_op_ctx): validate, pin the BO's
//    pages, and reserve every resource the commit will need — the VMA structs
//    (3 for a map; 2 for an unmap, 1 on series-v3's base kernel) and the
//    page-table pages of the kernel's formula. Failures here are clean.
//  - exec (panthor_vm_exec_op): run drm_gpuvm's split/merge ops through
//    panthor's sm_step_map/remap/unmap, drawing table pages only from the
//    reservation, so that it cannot fail for lack of memory.
//  - cleanup: give back what the commit did not use.
//
// Alloc-on-fault BOs are mapped without pages or preallocation; their VMAs are
// unmapped granule by granule, skipping granules never faulted in (the seed's
// panthor_vm_unmap_pages()). Variant differences: series-v3 keeps the seed's
// remap defect (a remap without `prev` dereferences it: an oops), its base
// kernel's single unmap VMA (a middle unmap oopses), and refuses partial
// unmaps of 2 MiB blocks; series-fixed widens such unmaps to the block and
// re-maps the parts that stay (spec 7.1).
#ifndef FAULTLAB_ENGINE_VM_VM_H_
#define FAULTLAB_ENGINE_VM_VM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/variant.h"
#include "engine/gem/bo.h"
#include "engine/mem/memory.h"
#include "engine/pgtable/pgtable.h"
#include "engine/vm/va_space.h"

namespace faultlab::vm {

// Physical address of a frame: frames start at 2 MiB (the first 2 MiB of DRAM
// belong to firmware), so that no page sits at physical 0, which
// iova_to_phys() uses to mean "not mapped", and 2 MiB-aligned frame runs stay
// 2 MiB-aligned in physical memory.
constexpr uint64_t kPhysBasePfn = 0x200;
inline uint64_t PhysOf(uint32_t frame) {
  return (static_cast<uint64_t>(frame) + kPhysBasePfn) << 12;
}
inline uint32_t FrameOfPhys(uint64_t phys) {
  return static_cast<uint32_t>((phys >> 12) - kPhysBasePfn);
}

// Receives modelled kernel defects (an oops names the kernel function).
class OopsSink {
 public:
  virtual ~OopsSink() = default;
  virtual void OnOops(uint64_t vm_key, const char* function, const std::string& message) = 0;
};

// struct panthor_vm_op_ctx.
struct OpCtx {
  uint32_t type = 0;  // DRM_PANTHOR_VM_BIND_OP_TYPE_*
  uint32_t flags = 0;
  uint64_t va = 0;
  uint64_t range = 0;
  std::shared_ptr<gem::Bo> bo;
  uint64_t bo_offset = 0;
  std::vector<uint32_t> rsvd_pt;  // reserved page-table frames
  uint32_t rsvd_vmas = 0;         // preallocated VMA structs
  uint64_t pt_count = 0;          // the formula's count, for tests
  bool prepared = false;
};

struct VmStats {
  uint64_t binds = 0;
  uint64_t pt_reservation_exhausted = 0;  // must stay 0: commit allocated nothing else
  uint64_t oopses = 0;
  uint64_t unmap_failures = 0;  // panthor_vm_unmap_pages() WARNs
  uint64_t huge_splits = 0;     // series-fixed: partial unmaps of 2 MiB blocks
};

class Vm {
 public:
  // Bytes of a struct panthor_vma (charged as metadata while it exists).
  static constexpr uint64_t kVmaBytes = 128;

  Vm(uint64_t key, uint32_t va_bits, uint64_t kernel_va_start, uint64_t kernel_va_range,
     mem::MemoryModel* mem, Variant variant, OopsSink* oops);
  ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  // False if the root page table could not be allocated (VM_CREATE -ENOMEM).
  bool ok() const { return pt_ && pt_->ok(); }

  uint64_t key() const { return key_; }
  uint64_t va_range() const { return 1ULL << va_bits_; }
  uint64_t kernel_va_start() const { return kernel_va_start_; }
  uint64_t kernel_va_range() const { return kernel_va_range_; }
  bool unusable() const { return unusable_; }
  void set_unusable() { unusable_ = true; }
  bool destroyed() const { return destroyed_; }

  // Models panthor_vm_prepare_map_op_ctx() (after the handle lookup).
  int PrepareMap(std::shared_ptr<gem::Bo> bo, uint64_t offset, uint64_t size, uint64_t va,
                 uint32_t flags, OpCtx* ctx);
  // Models panthor_vm_prepare_unmap_op_ctx().
  int PrepareUnmap(uint64_t va, uint64_t size, OpCtx* ctx);
  // Models panthor_vm_prepare_sync_only_op_ctx().
  void PrepareSyncOnly(OpCtx* ctx);
  // Models panthor_vm_exec_op(). 0 or -errno; an oops returns -EFAULT (the
  // kernel thread would have died) and leaves the VM unusable.
  int Exec(OpCtx& ctx, bool flag_unusable_on_failure);
  // Models panthor_vm_cleanup_op_ctx().
  void Cleanup(OpCtx& ctx);

  // Models panthor_vm_destroy(): unmaps everything; the VM stays around while
  // referenced.
  void Destroy();

  // The kernel's preallocation formula for a map (spec 3.5, the seed's pt_count).
  static uint64_t MapPtCount(uint64_t va, uint64_t size);
  // ... and for an unmap (panthor_vm_prepare_unmap_op_ctx()).
  static uint64_t UnmapPtCount(uint64_t va, uint64_t size);

  const VaSpace& va_space() const { return vas_; }
  const pgtable::PageTable& page_table() const { return *pt_; }
  pgtable::PageTable& page_table() { return *pt_; }
  const VmStats& stats() const { return stats_; }
  // The dummy-page policy's reserve page, mapped into faulting granules.
  uint32_t dummy_frame() const { return dummy_frame_; }
  void set_dummy_frame(uint32_t f) { dummy_frame_ = f; }
  // The tables of this VM come from here outside a bind (root, frees).
  pgtable::TableAllocator* blocking_tables();

  // Canonical hash of the VM: layout, VAs and page-table leaves.
  uint64_t Hash() const;
  // Every leaf lies inside a VMA and maps the BO frame the VMA says; "" if so.
  std::string CheckInvariants() const;

  // Maps [iova, iova + size) from `bo` pages starting at `bo_offset`
  // (panthor_vm_map_pages()). Exposed for the fault path (Engine C).
  int MapPages(uint64_t iova, int prot, const gem::Bo& bo, uint64_t bo_offset, uint64_t size,
               pgtable::TableAllocator* alloc);
  // panthor_vm_unmap_pages() with the seed's sparse granularity (in pages; 0
  // for regular mappings).
  int UnmapPages(uint64_t iova, uint64_t size, uint64_t sparse_granularity_pages);
  static int FlagsToProt(uint32_t flags);

 private:
  class ReservedTables;
  class BlockingTables;

  int StepMap(const GpuvaOp& op, OpCtx& ctx, pgtable::TableAllocator* tables);
  int StepRemap(const GpuvaOp& op, OpCtx& ctx, pgtable::TableAllocator* tables);
  int StepUnmap(const GpuvaOp& op);
  uint64_t EffectiveGranularity(uint64_t granularity_pages, uint64_t start, uint64_t range) const;
  int Oops(const char* function, const std::string& message);
  bool TakeVma(OpCtx& ctx);
  void FreeVmaStruct();

  uint64_t key_;
  uint32_t va_bits_;
  uint64_t kernel_va_start_;
  uint64_t kernel_va_range_;
  mem::MemoryModel* mem_;
  Variant variant_;
  OopsSink* oops_;
  VaSpace vas_;
  std::unique_ptr<BlockingTables> root_alloc_;
  std::unique_ptr<pgtable::PageTable> pt_;
  bool unusable_ = false;
  bool destroyed_ = false;
  uint32_t dummy_frame_ = gem::kNoFrame;
  VmStats stats_;
};

}  // namespace faultlab::vm

#endif  // FAULTLAB_ENGINE_VM_VM_H_
