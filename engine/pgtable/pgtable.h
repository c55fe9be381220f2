// PageTable: an ARM_64_LPAE_S1 page table with a 4 KiB granule, as panthor
// configures io-pgtable-arm (spec 3.5): pgsize_bitmap = 4 KiB | 2 MiB (no 1 GiB
// blocks), levels from the VA size (4 levels above 39 bits), table pages taken
// from the memory model through a TableAllocator (panthor's alloc_pt/free_pt).
//
// The operations model io-pgtable-arm exactly where it decides results:
//  - MapPages (arm_lpae_map_pages / __arm_lpae_map): installs up to the end of
//    the current table and reports how much it mapped; a leaf already present
//    is -EEXIST (a table under a new block is unmapped and freed first); a
//    missing table is allocated, -ENOMEM if the allocator fails;
//  - UnmapPages (__arm_lpae_unmap): unmaps whole entries of the requested size
//    up to the end of the table; an entry of that size that is a table is
//    freed with everything under it; a missing entry stops the unmap; a
//    smaller unmap inside a block unmaps nothing (no block splitting since
//    v6.13, spec 7.1). Emptied tables are NOT freed otherwise, as in the kernel.
//  - IovaToPhys / Translate: the walk the GPU's MMU does.
#ifndef FAULTLAB_ENGINE_PGTABLE_PGTABLE_H_
#define FAULTLAB_ENGINE_PGTABLE_PGTABLE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>

namespace faultlab::pgtable {

constexpr uint64_t kSz4K = 4096;
constexpr uint64_t kSz2M = 2ULL << 20;
constexpr uint64_t kSz1G = 1ULL << 30;

// IOMMU_* prot bits (include/linux/iommu.h).
constexpr int kProtRead = 1 << 0;
constexpr int kProtWrite = 1 << 1;
constexpr int kProtCache = 1 << 2;
constexpr int kProtNoexec = 1 << 3;

// ARM LPAE descriptor bits used by the stage-1 format.
constexpr uint64_t kPteValid = 1ULL << 0;
constexpr uint64_t kPteTable = 1ULL << 1;  // table (L0-2) or page (L3) descriptor
constexpr uint64_t kPteAttrIdxCache = 1ULL << 2;
constexpr uint64_t kPteApUnpriv = 1ULL << 6;
constexpr uint64_t kPteApRdonly = 1ULL << 7;
constexpr uint64_t kPteShIs = 3ULL << 8;
constexpr uint64_t kPteShOs = 2ULL << 8;
constexpr uint64_t kPteAf = 1ULL << 10;
constexpr uint64_t kPteNg = 1ULL << 11;
constexpr uint64_t kPteXn = 1ULL << 54;
constexpr uint64_t kPteAddrMask = 0x0000'ffff'ffff'f000ULL;

// Supplies and takes back table pages (frames).
class TableAllocator {
 public:
  virtual ~TableAllocator() = default;
  virtual bool Alloc(uint32_t* frame) = 0;
  virtual void Free(uint32_t frame) = 0;
};

// The result of a walk.
struct Walk {
  bool mapped = false;
  int level = 0;      // level of the leaf, or of the missing entry (0..3)
  uint64_t pte = 0;   // the leaf descriptor
  uint64_t phys = 0;  // translated address
};

class PageTable {
 public:
  // Allocates the root table from `alloc`; ok() is false if that failed.
  PageTable(uint32_t va_bits, TableAllocator* alloc);
  ~PageTable();  // frees every table (free_io_pgtable_ops)
  PageTable(const PageTable&) = delete;
  PageTable& operator=(const PageTable&) = delete;

  bool ok() const { return root_ != nullptr; }
  int start_level() const { return start_level_; }
  uint32_t va_bits() const { return va_bits_; }

  // 0 or -errno; `*mapped` bytes were mapped (possibly fewer than asked).
  int MapPages(uint64_t iova, uint64_t paddr, uint64_t pgsize, uint64_t pgcount, int prot,
               TableAllocator* alloc, uint64_t* mapped);
  // Bytes unmapped.
  uint64_t UnmapPages(uint64_t iova, uint64_t pgsize, uint64_t pgcount);
  // 0 when not mapped (io-pgtable's iova_to_phys).
  uint64_t IovaToPhys(uint64_t iova) const { return Translate(iova).phys; }
  Walk Translate(uint64_t iova) const;
  // How many 4 KiB pages from page-aligned `iova` (at most `max_pages`)
  // translate to leaves carrying none of the `deny` bits: the pages an
  // access may go through without a fault, each what Translate() finds.
  uint64_t AccessibleRun(uint64_t iova, uint64_t max_pages, uint64_t deny) const;

  // Table pages in use, root included.
  uint64_t table_pages() const { return table_pages_; }
  // An order-free hash of every leaf (XOR of LeafHash(iova, size, pte)), kept
  // up to date as leaves are written and cleared, so that a state hash costs
  // O(1) instead of a walk over every mapped page.
  uint64_t leaf_hash() const { return leaf_hash_; }
  static uint64_t LeafHash(uint64_t iova, uint64_t size, uint64_t pte);
  // Calls `fn(iova, size, pte)` for every leaf in address order.
  void ForEachLeaf(const std::function<void(uint64_t, uint64_t, uint64_t)>& fn) const;
  // Calls `fn(level, frame)` for every table, in address order.
  void ForEachTable(const std::function<void(int, uint32_t)>& fn) const;

  static uint64_t ProtToPte(int prot);
  static uint64_t BlockSize(int level) { return 1ULL << (12 + 9 * (3 - level)); }

 private:
  struct Table {
    uint32_t frame;
    std::array<uint64_t, 512> pte{};
    std::unique_ptr<std::array<Table*, 512>> child;  // levels 0-2 only
  };

  Table* NewTable(int level, TableAllocator* alloc);
  // Frees `t` (covering VA from `base`) and every table under it; its leaves
  // leave the leaf hash.
  void FreeTable(Table* t, int level, uint64_t base);
  int Map(uint64_t iova, uint64_t paddr, uint64_t size, uint64_t pgcount, uint64_t prot_pte,
          int level, Table* t, TableAllocator* alloc, uint64_t* mapped);
  uint64_t Unmap(uint64_t iova, uint64_t size, uint64_t pgcount, int level, Table* t);
  uint32_t Index(uint64_t iova, int level) const;
  void Leaves(const Table* t, int level, uint64_t base,
              const std::function<void(uint64_t, uint64_t, uint64_t)>& fn) const;
  void Tables(const Table* t, int level, const std::function<void(int, uint32_t)>& fn) const;

  uint32_t va_bits_;
  int start_level_;
  TableAllocator* root_alloc_;  // also takes back every freed table
  Table* root_ = nullptr;
  uint64_t table_pages_ = 0;
  uint64_t leaf_hash_ = 0;
  // Translate()'s last last-level table and its 2 MiB region (iova >> 21);
  // forgotten whenever a table is freed.
  mutable uint64_t walk_key_ = ~uint64_t{0};
  mutable const Table* walk_table_ = nullptr;
};

}  // namespace faultlab::pgtable

#endif  // FAULTLAB_ENGINE_PGTABLE_PGTABLE_H_
