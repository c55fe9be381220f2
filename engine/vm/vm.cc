#include "engine/vm/vm.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/hash.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/panthor.h"

namespace faultlab::vm {

using pgtable::kSz1G;
using pgtable::kSz2M;
using pgtable::kSz4K;
using uapi::kEFAULT;
using uapi::kEINVAL;
using uapi::kENOMEM;

namespace {

constexpr uint32_t kMapFlags = uapi::kPanthorVmBindOpMapReadonly | uapi::kPanthorVmBindOpMapNoexec |
                               uapi::kPanthorVmBindOpMapUncached;

uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }
uint64_t AlignDown(uint64_t x, uint64_t a) { return x & ~(a - 1); }

// get_pgsize() (panthor_mmu.c): 4 KiB pages up to the next 2 MiB boundary,
// 2 MiB blocks up to the next 1 GiB boundary when aligned.
uint64_t GetPgsize(uint64_t addr, uint64_t size, uint64_t* count) {
  uint64_t blk_offset = (0 - addr) % kSz2M;
  if (blk_offset || size < kSz2M) {
    const uint64_t n = blk_offset == 0 ? size : std::min(blk_offset, size);
    *count = n / kSz4K;
    return kSz4K;
  }
  blk_offset = (0 - addr) % kSz1G;
  if (blk_offset == 0) blk_offset = kSz1G;
  *count = std::min(blk_offset, size) / kSz2M;
  return kSz2M;
}

}  // namespace

// Table pages for a commit: only from the op context's reservation.
class Vm::ReservedTables : public pgtable::TableAllocator {
 public:
  ReservedTables(OpCtx* ctx, mem::MemoryModel* mem, VmStats* stats)
      : ctx_(ctx), mem_(mem), stats_(stats) {}
  bool Alloc(uint32_t* frame) override {
    if (ctx_->rsvd_pt.empty()) {
      ++stats_->pt_reservation_exhausted;  // alloc_pt() WARNs and fails
      return false;
    }
    *frame = ctx_->rsvd_pt.back();
    ctx_->rsvd_pt.pop_back();
    return true;
  }
  void Free(uint32_t frame) override { mem_->Free(frame, mem::Owner::kPageTable); }

 private:
  OpCtx* ctx_;
  mem::MemoryModel* mem_;
  VmStats* stats_;
};

// The root table and every freed table (alloc_pages_node / free_pt).
class Vm::BlockingTables : public pgtable::TableAllocator {
 public:
  explicit BlockingTables(mem::MemoryModel* mem) : mem_(mem) {}
  bool Alloc(uint32_t* frame) override {
    return mem_->AllocPage(mem::AllocClass::kBlocking, mem::Owner::kPageTable, frame);
  }
  void Free(uint32_t frame) override { mem_->Free(frame, mem::Owner::kPageTable); }

 private:
  mem::MemoryModel* mem_;
};

Vm::Vm(uint64_t key, uint32_t va_bits, uint64_t kernel_va_start, uint64_t kernel_va_range,
       mem::MemoryModel* mem, Variant variant, OopsSink* oops)
    : key_(key),
      va_bits_(va_bits),
      kernel_va_start_(kernel_va_start),
      kernel_va_range_(kernel_va_range),
      mem_(mem),
      variant_(variant),
      oops_(oops),
      vas_(0, 1ULL << va_bits),  // drm_gpuvm_init(..., 0, va_range, 0, 0, ...)
      root_alloc_(std::make_unique<BlockingTables>(mem)),
      pt_(std::make_unique<pgtable::PageTable>(va_bits, root_alloc_.get())) {}

pgtable::TableAllocator* Vm::blocking_tables() { return root_alloc_.get(); }

Vm::~Vm() {
  if (dummy_frame_ != gem::kNoFrame) mem_->Free(dummy_frame_, mem::Owner::kReserve);
  // Free the VMA structs of mappings still there (BO references drop with them).
  for (size_t i = 0; i < vas_.size(); ++i) FreeVmaStruct();
  pt_.reset();
}

int Vm::FlagsToProt(uint32_t flags) {
  // flags_to_prot() (panthor_mmu.c).
  int prot = 0;
  if (flags & uapi::kPanthorVmBindOpMapNoexec) prot |= pgtable::kProtNoexec;
  if (!(flags & uapi::kPanthorVmBindOpMapUncached)) prot |= pgtable::kProtCache;
  if (flags & uapi::kPanthorVmBindOpMapReadonly) {
    prot |= pgtable::kProtRead;
  } else {
    prot |= pgtable::kProtRead | pgtable::kProtWrite;
  }
  return prot;
}

uint64_t Vm::MapPtCount(uint64_t va, uint64_t size) {
  // L1, L2 and L3 tables, over-provisioned (the seed keeps this formula).
  uint64_t n = 0;
  for (uint32_t shift : {39u, 30u, 21u}) {
    const uint64_t s = 1ULL << shift;
    n += (AlignUp(va + size, s) - AlignDown(va, s)) >> shift;
  }
  return n;
}

uint64_t Vm::UnmapPtCount(uint64_t va, uint64_t size) {
  // L3 tables for the split-2M-block situation on unmap.
  uint64_t n = 0;
  if (va != AlignUp(va, kSz2M)) ++n;
  if (va + size != AlignUp(va + size, kSz2M) && AlignUp(va + size, kSz2M) != AlignUp(va, kSz2M)) {
    ++n;
  }
  return n;
}

bool Vm::TakeVma(OpCtx& ctx) {
  if (ctx.rsvd_vmas == 0) return false;
  --ctx.rsvd_vmas;  // the struct now belongs to a mapping
  return true;
}

void Vm::FreeVmaStruct() { mem_->FreeMetadata(kVmaBytes); }

int Vm::PrepareMap(std::shared_ptr<gem::Bo> bo, uint64_t offset, uint64_t size, uint64_t va,
                   uint32_t flags, OpCtx* ctx) {
  if (!bo) return -kEINVAL;
  if ((flags & ~(kMapFlags | uapi::kPanthorVmBindOpTypeMask)) ||
      (flags & uapi::kPanthorVmBindOpTypeMask) != uapi::kPanthorVmBindOpTypeMap) {
    return -kEINVAL;
  }
  if (size > bo->size_bytes() || offset > bo->size_bytes() - size) return -kEINVAL;
  // A BO with an exclusive VM can't be mapped to other VMs.
  if (bo->exclusive_vm() && bo->exclusive_vm() != key_) return -kEINVAL;
  *ctx = OpCtx{};
  ctx->type = uapi::kPanthorVmBindOpTypeMap;
  ctx->flags = flags;
  ctx->va = va;
  ctx->range = size;
  ctx->bo_offset = offset;
  ctx->prepared = true;
  // panthor_vm_op_ctx_prealloc_vmas(): one for the mapping, two for a remap
  // with both prev and next.
  for (int i = 0; i < 3; ++i) {
    if (!mem_->AllocMetadata(kVmaBytes, mem::AllocClass::kBlocking)) return -kENOMEM;
    ++ctx->rsvd_vmas;
  }
  if (bo->alloc_on_fault()) {
    // The series: flag the sparse resources as pinned; pages come at fault time,
    // and no page tables are reserved. series-fixed must still split 2 MiB
    // blocks of the mappings it replaces (partial unmaps of huge pages), which
    // takes an L3 table per unaligned boundary: without this reservation such
    // a map fails with -ENOMEM at commit (found by vm_bind_property_test).
    bo->sparse()->Pin();
    if (!HasSeedDefects(variant_)) {
      ctx->pt_count = UnmapPtCount(va, size);
      for (uint64_t i = 0; i < ctx->pt_count; ++i) {
        uint32_t f;
        if (!mem_->AllocPage(mem::AllocClass::kBlocking, mem::Owner::kPageTable, &f)) {
          return -kENOMEM;
        }
        ctx->rsvd_pt.push_back(f);
      }
    }
  } else {
    // drm_gem_shmem_pin(): all pages now, so that the map does not allocate.
    uint64_t allocated;
    if (bo->GetPages(mem::AllocClass::kBlocking, &allocated) != 0) return -kENOMEM;
    ctx->pt_count = MapPtCount(va, size);
    for (uint64_t i = 0; i < ctx->pt_count; ++i) {
      uint32_t f;
      if (!mem_->AllocPage(mem::AllocClass::kBlocking, mem::Owner::kPageTable, &f)) return -kENOMEM;
      ctx->rsvd_pt.push_back(f);
    }
  }
  ctx->bo = std::move(bo);
  return 0;
}

int Vm::PrepareUnmap(uint64_t va, uint64_t size, OpCtx* ctx) {
  *ctx = OpCtx{};
  ctx->type = uapi::kPanthorVmBindOpTypeUnmap;
  ctx->flags = uapi::kPanthorVmBindOpTypeUnmap;
  ctx->va = va;
  ctx->range = size;
  ctx->prepared = true;
  // Two VMAs (a middle unmap needs prev and next); the series' base kernel
  // preallocated one ("either a prev or a next VA, but not both"), fixed by
  // "drm/panthor: Fix the unmap VMA count" later.
  const int vmas = HasSeedDefects(variant_) ? 1 : 2;
  for (int i = 0; i < vmas; ++i) {
    if (!mem_->AllocMetadata(kVmaBytes, mem::AllocClass::kBlocking)) return -kENOMEM;
    ++ctx->rsvd_vmas;
  }
  ctx->pt_count = UnmapPtCount(va, size);
  for (uint64_t i = 0; i < ctx->pt_count; ++i) {
    uint32_t f;
    if (!mem_->AllocPage(mem::AllocClass::kBlocking, mem::Owner::kPageTable, &f)) return -kENOMEM;
    ctx->rsvd_pt.push_back(f);
  }
  return 0;
}

void Vm::PrepareSyncOnly(OpCtx* ctx) {
  *ctx = OpCtx{};
  ctx->type = uapi::kPanthorVmBindOpTypeSyncOnly;
  ctx->flags = uapi::kPanthorVmBindOpTypeSyncOnly;
  ctx->prepared = true;
}

void Vm::Cleanup(OpCtx& ctx) {
  for (uint32_t f : ctx.rsvd_pt) mem_->Free(f, mem::Owner::kPageTable);
  ctx.rsvd_pt.clear();
  for (uint32_t i = 0; i < ctx.rsvd_vmas; ++i) FreeVmaStruct();
  ctx.rsvd_vmas = 0;
  if (ctx.bo && ctx.bo->alloc_on_fault() && ctx.type == uapi::kPanthorVmBindOpTypeMap) {
    // The pin ref moves to the vm_bo (released when the BO leaves the VM);
    // the model keeps pin counts per mapping instead.
    ctx.bo->sparse()->Unpin();
  }
  ctx.bo.reset();
  ctx.prepared = false;
}

int Vm::Oops(const char* function, const std::string& message) {
  ++stats_.oopses;
  // The kernel thread dies holding vm->op_lock: nothing on this VM will make
  // progress again. The twin reports it and marks the VM unusable.
  unusable_ = true;
  if (oops_ != nullptr) oops_->OnOops(key_, function, message);
  return -kEFAULT;
}

uint64_t Vm::EffectiveGranularity(uint64_t granularity_pages, uint64_t start,
                                  uint64_t range) const {
  // 1 << (ffs(granularity | start >> PAGE_SHIFT | range >> PAGE_SHIFT) - 1)
  if (granularity_pages == 0) return 0;
  const uint64_t x = granularity_pages | (start >> 12) | (range >> 12);
  return 1ULL << __builtin_ctzll(x);
}

int Vm::MapPages(uint64_t iova, int prot, const gem::Bo& bo, uint64_t bo_offset, uint64_t size,
                 pgtable::TableAllocator* alloc) {
  // panthor_vm_map_pages(): walk the BO's physically contiguous segments (the
  // sg table), mapping each with get_pgsize() chunks; on failure unmap what
  // was mapped.
  if (size == 0) return 0;
  const uint64_t start_iova = iova;
  uint64_t page = bo_offset / kSz4K;
  uint64_t left = size;
  while (left > 0) {
    const uint32_t first = bo.pages().FrameOf(page);
    if (first == gem::kNoFrame) return -kEINVAL;  // not populated: a model bug upstream
    const uint64_t run = bo.pages().ContiguousRun(page, (left + kSz4K - 1) / kSz4K);
    uint64_t len = std::min(run * kSz4K, left);
    uint64_t paddr = PhysOf(first);
    while (len > 0) {
      uint64_t pgcount, mapped = 0;
      const uint64_t pgsize = GetPgsize(iova | paddr, len, &pgcount);
      int ret = pt_->MapPages(iova, paddr, pgsize, pgcount, prot, alloc, &mapped);
      iova += mapped;
      paddr += mapped;
      len -= mapped;
      left -= mapped;
      if (ret == 0 && mapped == 0) ret = -kENOMEM;
      if (ret != 0) {
        UnmapPages(start_iova, iova - start_iova, 0);
        return ret;
      }
    }
    page += run;
  }
  return 0;  // panthor_vm_flush_range(): a no-op until the VM has an AS
}

int Vm::UnmapPages(uint64_t iova, uint64_t size, uint64_t sparse_granularity_pages) {
  const uint64_t gran = sparse_granularity_pages * kSz4K;
  uint64_t offset = 0;
  while (offset < size) {
    uint64_t pgcount, pgsize;
    if (gran && pt_->IovaToPhys(iova + offset) == 0) {
      offset += gran;  // never faulted in: skip the granule
      continue;
    } else if (gran) {
      pgsize = GetPgsize(iova + offset, std::min(size - offset, gran), &pgcount);
      pgcount = 1;
      // The seed goes on one 4 KiB page at a time, each found mapped (its
      // iova_to_phys) and unmapped alone, until a hole. Within one last-level
      // table every such step is 4 KiB: one unmap clears the run, stopping at
      // the hole as the steps would (leaves are all there is to a 4 KiB run).
      if (pgsize == kSz4K) {
        const uint64_t to_table_end = (kSz2M - ((iova + offset) & (kSz2M - 1))) / kSz4K;
        pgcount = std::max<uint64_t>(1, std::min((size - offset) / kSz4K, to_table_end));
        const uint64_t unmapped = pt_->UnmapPages(iova + offset, pgsize, pgcount);
        if (unmapped == 0) {
          ++stats_.unmap_failures;  // the page is inside a 2 MiB block
          return -kEINVAL;
        }
        offset += unmapped;
        continue;
      }
    } else {
      pgsize = GetPgsize(iova + offset, size - offset, &pgcount);
    }
    const uint64_t unmapped = pt_->UnmapPages(iova + offset, pgsize, pgcount);
    if (unmapped != pgsize * pgcount) {
      ++stats_.unmap_failures;  // drm_WARN_ON + "failed to unmap range"
      return -kEINVAL;
    }
    offset += unmapped;
  }
  return 0;
}

int Vm::StepMap(const GpuvaOp& op, OpCtx& ctx, pgtable::TableAllocator* tables) {
  // panthor_gpuva_sm_step_map().
  if (!TakeVma(ctx)) return -kEINVAL;
  if (!ctx.bo->alloc_on_fault()) {
    // The series skips this for alloc-on-fault BOs: "This will happen at fault time".
    const int ret =
        MapPages(op.map.addr, FlagsToProt(ctx.flags), *ctx.bo, op.map.offset, op.map.range, tables);
    if (ret != 0) {
      ++ctx.rsvd_vmas;  // the VMA goes back to the context
      return ret;
    }
  }
  Vma v;
  v.addr = op.map.addr;
  v.range = op.map.range;
  v.bo = ctx.bo;
  v.bo_offset = op.map.offset;
  v.flags = ctx.flags & kMapFlags;
  vas_.Insert(std::move(v));
  return 0;
}

int Vm::StepRemap(const GpuvaOp& op, OpCtx& ctx, pgtable::TableAllocator* tables) {
  // panthor_gpuva_sm_step_remap() with the seed's sparse-granularity prologue.
  const Vma& old = *vas_.Find(op.va);
  uint64_t granularity = 0;
  if (old.bo) {
    if (HasSeedDefects(variant_) && !op.has_prev) {
      // The seed reads op->remap.prev->gem.obj after testing unmap->va->gem.obj.
      return Oops("panthor_gpuva_sm_step_remap",
                  absl::StrFormat("NULL pointer dereference reading op->remap.prev->gem.obj "
                                  "(remap of VA 0x%x without a prev part)",
                                  op.va));
    }
    const gem::SparseBacking* s = old.bo->sparse();
    granularity = s ? s->granularity_pages() : 0;
  }
  // drm_gpuva_op_remap_to_unmap_range(): the hole between prev and next.
  uint64_t start = op.has_prev ? op.prev.addr + op.prev.range : old.addr;
  uint64_t end = op.has_next ? op.next.addr : old.end();
  granularity = EffectiveGranularity(granularity, start, end - start);
  const uint64_t hole_start = start, hole_end = end;
  if (!HasSeedDefects(variant_)) {
    // "Support partial unmaps of huge pages": widen to the 2 MiB block when
    // the boundary cuts one, then re-map the parts that stay.
    if (start % kSz2M) {
      pgtable::Walk w = pt_->Translate(start);
      if (w.mapped && w.level == 2) start = AlignDown(start, kSz2M);
    }
    if (end % kSz2M) {
      pgtable::Walk w = pt_->Translate(end - 1);
      if (w.mapped && w.level == 2) end = AlignUp(end, kSz2M);
    }
  }
  int ret = UnmapPages(start, end - start, granularity);
  if (ret != 0) return ret;
  if (start != hole_start || end != hole_end) {
    ++stats_.huge_splits;
    const int prot = FlagsToProt(old.flags);
    if (start != hole_start) {
      ret = MapPages(start, prot, *old.bo, old.bo_offset + (start - old.addr), hole_start - start,
                     tables);
      if (ret != 0) return ret;
    }
    if (end != hole_end) {
      ret = MapPages(hole_end, prot, *old.bo, old.bo_offset + (hole_end - old.addr), end - hole_end,
                     tables);
      if (ret != 0) return ret;
    }
  }
  const int needed = (op.has_prev ? 1 : 0) + (op.has_next ? 1 : 0);
  for (int i = 0; i < needed; ++i) {
    if (!TakeVma(ctx)) {
      // panthor_vm_op_ctx_get_vma() returned NULL; panthor_vma_init() writes through it.
      return Oops("panthor_gpuva_sm_step_remap",
                  absl::StrFormat("NULL pointer dereference in panthor_vma_init(): the op context "
                                  "preallocated too few VMAs for a remap of VA 0x%x",
                                  op.va));
    }
  }
  Vma removed = vas_.Remove(op.va);
  if (op.has_prev) {
    Vma p{op.prev.addr, op.prev.range, removed.bo, op.prev.offset, removed.flags};
    vas_.Insert(std::move(p));
  }
  if (op.has_next) {
    Vma n{op.next.addr, op.next.range, removed.bo, op.next.offset, removed.flags};
    vas_.Insert(std::move(n));
  }
  FreeVmaStruct();  // the old VMA goes to returned_vmas and is freed after the op
  return 0;
}

int Vm::StepUnmap(const GpuvaOp& op) {
  // panthor_gpuva_sm_step_unmap().
  const Vma& v = *vas_.Find(op.va);
  uint64_t granularity = 0;
  if (v.bo && v.bo->sparse()) granularity = v.bo->sparse()->granularity_pages();
  granularity = EffectiveGranularity(granularity, v.addr, v.range);
  const int ret = UnmapPages(v.addr, v.range, granularity);
  if (ret != 0) return ret;  // drm_WARN_ON(ret)
  vas_.Remove(op.va);
  FreeVmaStruct();
  return 0;
}

int Vm::Exec(OpCtx& ctx, bool flag_unusable_on_failure) {
  if (ctx.type == uapi::kPanthorVmBindOpTypeSyncOnly) return 0;
  ++stats_.binds;
  std::vector<GpuvaOp> ops;
  int ret = 0;
  if (ctx.type == uapi::kPanthorVmBindOpTypeMap) {
    if (unusable_) {
      ret = -kEINVAL;
    } else if (!vas_.RangeValid(ctx.va, ctx.range)) {
      ret = -kEINVAL;  // __drm_gpuvm_sm_map(): drm_gpuvm_range_valid()
    } else {
      ops = vas_.SmMapOps(ctx.va, ctx.range, ctx.bo.get(), ctx.bo_offset);
    }
  } else if (ctx.type == uapi::kPanthorVmBindOpTypeUnmap) {
    if (!vas_.RangeValid(ctx.va, ctx.range)) {
      ret = -kEINVAL;
    } else {
      ops = vas_.SmUnmapOps(ctx.va, ctx.range);
    }
  } else {
    ret = -kEINVAL;
  }
  ReservedTables tables(&ctx, mem_, &stats_);
  for (const GpuvaOp& op : ops) {
    if (ret != 0) break;
    switch (op.kind) {
      case GpuvaOp::kMap:
        ret = StepMap(op, ctx, &tables);
        break;
      case GpuvaOp::kRemap:
        ret = StepRemap(op, ctx, &tables);
        break;
      case GpuvaOp::kUnmap:
        ret = StepUnmap(op);
        break;
    }
  }
  if (ret != 0 && flag_unusable_on_failure) unusable_ = true;
  return ret;
}

void Vm::Destroy() {
  if (destroyed_) return;
  destroyed_ = true;
  // panthor_vm_unmap_range(vm, mm_start, mm_range).
  OpCtx ctx;
  if (PrepareUnmap(0, va_range(), &ctx) == 0) Exec(ctx, false);
  Cleanup(ctx);
}

uint64_t Vm::Hash() const {
  StateHasher h;
  h.Add(va_bits_);
  h.Add(kernel_va_start_);
  h.Add(unusable_);
  h.Add(vas_.size());
  for (const auto& [addr, v] : vas_.vmas()) {
    h.Add(addr);
    h.Add(v.range);
    h.Add(v.bo ? v.bo->id() : 0);
    h.Add(v.bo_offset);
    h.Add(v.flags);
  }
  h.Add(pt_->leaf_hash());  // every leaf (iova, size, pte), kept incrementally
  h.Add(pt_->table_pages());
  return h.Finish();
}

std::string Vm::CheckInvariants() const {
  std::string problem;
  pt_->ForEachLeaf([&](uint64_t iova, uint64_t size, uint64_t pte) {
    if (!problem.empty()) return;
    const Vma* v = vas_.FindFirst(iova, size);
    if (v == nullptr || v->addr > iova || v->end() < iova + size) {
      problem = absl::StrFormat("leaf 0x%x+0x%x outside any VMA", iova, size);
      return;
    }
    for (uint64_t off = 0; off < size; off += kSz4K) {
      const uint64_t page = (v->bo_offset + (iova + off - v->addr)) / kSz4K;
      const uint32_t want = v->bo->pages().FrameOf(page);
      const uint64_t phys = (pte & pgtable::kPteAddrMask) + off;
      const bool dummy = dummy_frame_ != gem::kNoFrame && v->bo->alloc_on_fault() &&
                         size == kSz4K && phys == PhysOf(dummy_frame_);
      if (!dummy && (want == gem::kNoFrame || PhysOf(want) != phys)) {
        problem = absl::StrFormat("leaf 0x%x maps 0x%x, BO page %d is frame %d", iova + off, phys,
                                  page, want);
        return;
      }
    }
  });
  if (!problem.empty()) return problem;
  if (stats_.pt_reservation_exhausted) return "a commit needed page tables it had not reserved";
  return "";
}

}  // namespace faultlab::vm
