#include "engine/pgtable/pgtable.h"

#include <algorithm>

#include "engine/uapi/errno.h"

namespace faultlab::pgtable {

using uapi::kEEXIST;
using uapi::kEINVAL;
using uapi::kENOMEM;

namespace {

bool IsLeaf(uint64_t pte, int level) {
  if (!(pte & kPteValid)) return false;
  return level == 3 || !(pte & kPteTable);  // L3 pages carry the "table" bit
}

}  // namespace

PageTable::PageTable(uint32_t va_bits, TableAllocator* alloc)
    : va_bits_(va_bits),
      // ARM_LPAE_MAX_LEVELS - DIV_ROUND_UP(va_bits - pg_shift, bits_per_level)
      start_level_(4 - static_cast<int>((va_bits - 12 + 8) / 9)),
      root_alloc_(alloc) {
  root_ = NewTable(start_level_, alloc);
}

PageTable::~PageTable() {
  if (root_) FreeTable(root_, start_level_, 0);
}

uint64_t PageTable::LeafHash(uint64_t iova, uint64_t size, uint64_t pte) {
  // SplitMix64's finalizer over a combination of the three.
  uint64_t z = iova * 0x9e3779b97f4a7c15ULL ^ (size >> 12) * 0xc2b2ae3d27d4eb4fULL ^ pte;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

PageTable::Table* PageTable::NewTable(int level, TableAllocator* alloc) {
  uint32_t frame;
  if (!alloc->Alloc(&frame)) return nullptr;
  auto* t = new Table();
  t->frame = frame;
  if (level < 3) t->child = std::make_unique<std::array<Table*, 512>>();
  ++table_pages_;
  return t;
}

void PageTable::FreeTable(Table* t, int level, uint64_t base) {
  walk_key_ = ~uint64_t{0};  // the cached last-level table may be this one
  const uint64_t size = BlockSize(level);
  for (uint32_t i = 0; i < 512; ++i) {
    const uint64_t pte = t->pte[i];
    if (IsLeaf(pte, level)) {
      leaf_hash_ ^= LeafHash(base + i * size, size, pte);
    } else if (level < 3 && (*t->child)[i]) {
      FreeTable((*t->child)[i], level + 1, base + i * size);
    }
  }
  root_alloc_->Free(t->frame);
  --table_pages_;
  delete t;
}

uint32_t PageTable::Index(uint64_t iova, int level) const {
  return static_cast<uint32_t>((iova >> (12 + 9 * (3 - level))) & 511);
}

uint64_t PageTable::ProtToPte(int prot) {
  // arm_lpae_prot_to_pte() for ARM_64_LPAE_S1.
  uint64_t pte = kPteNg | kPteAf;
  if (!(prot & kProtWrite) && (prot & kProtRead)) pte |= kPteApRdonly;
  pte |= kPteApUnpriv;  // never IOMMU_PRIV
  if (prot & kProtCache) {
    pte |= kPteAttrIdxCache | kPteShIs;
  } else {
    pte |= kPteShOs;
  }
  if (prot & kProtNoexec) pte |= kPteXn;
  return pte;
}

int PageTable::MapPages(uint64_t iova, uint64_t paddr, uint64_t pgsize, uint64_t pgcount, int prot,
                        TableAllocator* alloc, uint64_t* mapped) {
  *mapped = 0;
  if (pgsize != kSz4K && pgsize != kSz2M) return -kEINVAL;
  if ((iova >> va_bits_) != 0 || ((iova + pgsize * pgcount - 1) >> va_bits_) != 0) {
    return -uapi::kERANGE;  // panthor checks the range before: never reached
  }
  if (!(prot & (kProtRead | kProtWrite))) return 0;  // no access: nothing to do
  return Map(iova, paddr, pgsize, pgcount, ProtToPte(prot), start_level_, root_, alloc, mapped);
}

int PageTable::Map(uint64_t iova, uint64_t paddr, uint64_t size, uint64_t pgcount,
                   uint64_t prot_pte, int level, Table* t, TableAllocator* alloc,
                   uint64_t* mapped) {
  const uint32_t idx = Index(iova, level);
  if (size == BlockSize(level)) {
    const uint64_t num = std::min<uint64_t>(pgcount, 512 - idx);
    // arm_lpae_init_pte(): a leaf already there needs an unmap first; a table
    // under a new block is unmapped (and freed) first.
    for (uint64_t i = 0; i < num; ++i) {
      const uint64_t pte = t->pte[idx + i];
      if (IsLeaf(pte, level)) return -kEEXIST;
      if (pte & kPteValid) {
        if (Unmap(iova + i * size, size, 1, level, t) != size) return -kEINVAL;
      }
    }
    const uint64_t type = level == 3 ? (kPteValid | kPteTable) : kPteValid;
    for (uint64_t i = 0; i < num; ++i) {
      t->pte[idx + i] = ((paddr + i * size) & kPteAddrMask) | prot_pte | type;
      leaf_hash_ ^= LeafHash(iova + i * size, size, t->pte[idx + i]);
    }
    *mapped += num * size;
    return 0;
  }
  if (level >= 3) return -kEINVAL;
  uint64_t& pte = t->pte[idx];
  Table* c = (*t->child)[idx];
  if (!(pte & kPteValid)) {
    c = NewTable(level + 1, alloc);
    if (c == nullptr) return -kENOMEM;
    (*t->child)[idx] = c;
    pte = (static_cast<uint64_t>(c->frame) << 12) | kPteValid | kPteTable;
  } else if (IsLeaf(pte, level)) {
    return -kEEXIST;  // a block is in the way: "We require an unmap first"
  }
  return Map(iova, paddr, size, pgcount, prot_pte, level + 1, c, alloc, mapped);
}

uint64_t PageTable::UnmapPages(uint64_t iova, uint64_t pgsize, uint64_t pgcount) {
  if ((pgsize != kSz4K && pgsize != kSz2M) || pgcount == 0) return 0;
  if ((iova >> va_bits_) != 0) return 0;
  return Unmap(iova, pgsize, pgcount, start_level_, root_);
}

uint64_t PageTable::Unmap(uint64_t iova, uint64_t size, uint64_t pgcount, int level, Table* t) {
  if (level > 3) return 0;
  const uint32_t idx = Index(iova, level);
  const uint64_t pte = t->pte[idx];
  if (!(pte & kPteValid)) return 0;  // WARN: unmapping a hole
  if (size == BlockSize(level)) {
    const uint64_t num = std::min<uint64_t>(pgcount, 512 - idx);
    uint64_t i = 0;
    for (; i < num; ++i) {
      const uint64_t e = t->pte[idx + i];
      if (!(e & kPteValid)) break;
      if (!IsLeaf(e, level)) {
        FreeTable((*t->child)[idx + i], level + 1, iova + i * size);
        (*t->child)[idx + i] = nullptr;
      } else {
        leaf_hash_ ^= LeafHash(iova + i * size, size, e);
      }
      t->pte[idx + i] = 0;
    }
    return i * size;
  }
  if (IsLeaf(pte, level)) return 0;  // "Unmap of a partial large IOPTE is not allowed"
  return Unmap(iova, size, pgcount, level + 1, (*t->child)[idx]);
}

Walk PageTable::Translate(uint64_t iova) const {
  Walk w;
  if ((iova >> va_bits_) != 0) {
    w.level = start_level_;
    return w;
  }
  const Table* t = root_;
  int level = start_level_;
  // The last-level table of the previous walk, when this one ends there
  // too (the walk an MMU's TLB would save: consecutive pages share it).
  if ((iova >> 21) == walk_key_) {
    t = walk_table_;
    level = 3;
  }
  for (; level <= 3; ++level) {
    if (level == 3) {
      walk_key_ = iova >> 21;
      walk_table_ = t;
    }
    const uint64_t pte = t->pte[Index(iova, level)];
    w.level = level;
    if (!(pte & kPteValid)) return w;
    if (IsLeaf(pte, level)) {
      w.mapped = true;
      w.pte = pte;
      w.phys = (pte & kPteAddrMask & ~(BlockSize(level) - 1)) | (iova & (BlockSize(level) - 1));
      return w;
    }
    t = (*t->child)[Index(iova, level)];
  }
  return w;
}

uint64_t PageTable::AccessibleRun(uint64_t iova, uint64_t max_pages, uint64_t deny) const {
  uint64_t n = 0;
  while (n < max_pages) {
    const uint64_t va = iova + n * kSz4K;
    const Walk w = Translate(va);
    if (!w.mapped || (w.pte & deny)) break;
    if (w.level < 3) {  // a block: every page to its end
      const uint64_t left = (BlockSize(w.level) - (va & (BlockSize(w.level) - 1))) / kSz4K;
      n += std::min(max_pages - n, left);
      continue;
    }
    // Translate() ended in (and kept) a last-level table: read on along it.
    ++n;
    for (uint32_t i = Index(va, 3) + 1; i < 512 && n < max_pages; ++i, ++n) {
      const uint64_t pte = walk_table_->pte[i];
      if (!(pte & kPteValid) || (pte & deny)) return n;
    }
  }
  return n;
}

void PageTable::Leaves(const Table* t, int level, uint64_t base,
                       const std::function<void(uint64_t, uint64_t, uint64_t)>& fn) const {
  for (uint32_t i = 0; i < 512; ++i) {
    const uint64_t pte = t->pte[i];
    if (!(pte & kPteValid)) continue;
    const uint64_t iova = base + i * BlockSize(level);
    if (IsLeaf(pte, level)) {
      fn(iova, BlockSize(level), pte);
    } else {
      Leaves((*t->child)[i], level + 1, iova, fn);
    }
  }
}

void PageTable::ForEachLeaf(const std::function<void(uint64_t, uint64_t, uint64_t)>& fn) const {
  if (root_) Leaves(root_, start_level_, 0, fn);
}

void PageTable::Tables(const Table* t, int level,
                       const std::function<void(int, uint32_t)>& fn) const {
  fn(level, t->frame);
  if (level == 3) return;
  for (uint32_t i = 0; i < 512; ++i) {
    if ((*t->child)[i]) Tables((*t->child)[i], level + 1, fn);
  }
}

void PageTable::ForEachTable(const std::function<void(int, uint32_t)>& fn) const {
  if (root_) Tables(root_, start_level_, fn);
}

}  // namespace faultlab::pgtable
