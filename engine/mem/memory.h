// MemoryModel: the physical memory of the emulated board.
//
// Frames are numbers (4 KiB each, 0..frame_count-1 within the budget) with
// owners, not bytes: the bytes of BOs live in gem::ContentArena, host memory
// spent only on what something writes, so a 64 GiB sparse VA with 1 GiB
// touched costs megabytes. Allocation follows the kernel's rules where they
// decide success or failure:
//  - watermarks as mm/page_alloc.c sets them for one zone
//    (__setup_per_zone_wmarks: min = int_sqrt(16 * KiB) KiB clamped to
//    [128 KiB, 256 MiB], low = min + max(min/4, managed*10/10000), high = low + the same);
//  - allocation classes: kBlocking (GFP_KERNEL: may reclaim; without anything
//    reclaimable it fails at the min watermark like the others), kNoretry (the
//    seed's fault-path gfp: no reclaim bits at all, fails below min), kNowait
//    (GFP_NOWAIT: fails below min, and wakes the background reclaimer when free
//    memory drops below low — counted in kswapd_wakeups());
//  - `thp`: kNever hands out single frames; kWithinSize lets shmem callers ask
//    for 2 MiB-aligned, 2 MiB-contiguous runs (AllocHuge), which page tables can
//    map with 2 MiB blocks.
// Frame choice is deterministic: single frames come from the lowest-numbered
// partly used 2 MiB block (keeping whole blocks free for huge allocations),
// else the lowest free block; huge runs take the lowest free block.
//
//   MemoryModel mem(MemoryConfig{.budget_bytes = 8ull << 30});
//   uint32_t f;
//   if (mem.AllocPage(AllocClass::kNoretry, Owner::kBoPage, &f)) ...
//   mem.Free(f, Owner::kBoPage);
#ifndef FAULTLAB_ENGINE_MEM_MEMORY_H_
#define FAULTLAB_ENGINE_MEM_MEMORY_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/mem/block_set.h"

namespace faultlab::mem {

constexpr uint64_t kPageSize = 4096;
// KMALLOC_MAX_SIZE (include/linux/slab.h) with 4 KiB pages: 1 << (10 + 12).
// A kmalloc() of more fails (-ENOMEM in the ioctls that size it by a
// user's count) without looking at the count's memory.
constexpr uint64_t kKmallocMaxSize = 4ULL << 20;
constexpr uint32_t kPagesPerHuge = 512;  // 2 MiB / 4 KiB

// kPool: take from the fault-path reserve (pool:<pages> policy), falling back
// to kNoretry when the reserve is empty.
enum class AllocClass { kBlocking, kNoretry, kNowait, kPool };
enum class ThpMode { kNever, kWithinSize };
// Who holds a frame: accounting must balance per owner.
// kReserve: pages a VM keeps for the dummy-page policy.
enum class Owner { kBoPage, kPageTable, kMetadata, kTenant, kPool, kReserve, kCount };

const char* AllocClassName(AllocClass c);
const char* ThpModeName(ThpMode m);
const char* OwnerName(Owner o);

struct MemoryConfig {
  uint64_t budget_bytes = 8ULL << 30;
  ThpMode thp = ThpMode::kNever;
};

struct Watermarks {
  uint64_t min_pages = 0;
  uint64_t low_pages = 0;
  uint64_t high_pages = 0;
};

// The kernel's watermarks for a zone of `managed_pages` (see the file comment).
Watermarks ComputeWatermarks(uint64_t managed_pages);

class MemoryModel {
 public:
  explicit MemoryModel(MemoryConfig config);
  MemoryModel(const MemoryModel&) = delete;
  MemoryModel& operator=(const MemoryModel&) = delete;

  // One frame; false if the class may not allocate now.
  bool AllocPage(AllocClass cls, Owner owner, uint32_t* frame);
  // `n` frames, exactly as `n` AllocPage calls would hand them out and
  // account them (same frames, wake-ups, failure point); returns how many it
  // got. One pass per 2 MiB block when no allocation in the run can touch a
  // watermark or the injector; else page by page.
  uint32_t AllocPages(AllocClass cls, Owner owner, uint32_t n, uint32_t* frames);
  // 512 contiguous frames starting at a 512-aligned frame (thp only); false if
  // thp is off, no whole free block exists, or the class may not take 512 pages.
  bool AllocHuge(AllocClass cls, Owner owner, uint32_t* first_frame);
  void Free(uint32_t frame, Owner owner);
  // Each of `n` frames freed (frames of one block cost one bookkeeping step).
  void FreePages(const uint32_t* frames, uint32_t n, Owner owner);
  // Hands an allocated frame from one owner to another (a reserve being used).
  void Transfer(uint32_t frame, Owner from, Owner to);

  // Metadata (sgt entries, xarray nodes) is byte-granular, carved from frames
  // of its own; false when a new backing frame was needed and `cls` could not
  // get one.
  bool AllocMetadata(uint64_t bytes, AllocClass cls);
  void FreeMetadata(uint64_t bytes);

  // Optional failure injection (Engine C's seeded failure model): asked before
  // every allocation that would otherwise succeed; true makes it fail.
  using Injector = std::function<bool(AllocClass, Owner, uint32_t pages)>;
  void set_injector(Injector injector) { injector_ = std::move(injector); }
  // Direct reclaim for kBlocking below the min watermark: asked to free up to
  // `pages` reclaimable pages, returns how many it freed.
  void set_reclaimer(std::function<uint64_t(uint64_t pages)> fn) { reclaimer_ = std::move(fn); }
  // wake_all_kswapds(): called when a class with __GFP_KSWAPD_RECLAIM
  // (kBlocking, kNowait) finds free memory below the low watermark.
  void set_kswapd_waker(std::function<void()> fn) { kswapd_waker_ = std::move(fn); }
  // Told about every failed allocation (trace events, metrics).
  void set_failure_observer(std::function<void(AllocClass, Owner, uint32_t pages)> fn) {
    failure_observer_ = std::move(fn);
  }

  // The fault-path reserve: tops it up to `pages` with blocking allocation
  // (models "pool:<pages>", refilled at each submit). Returns frames added.
  uint64_t FillPool(uint64_t pages);
  uint64_t pool_pages() const { return pool_.size(); }

  uint64_t frame_count() const { return frame_count_; }
  uint64_t free_pages() const { return free_pages_; }
  uint64_t used_pages() const { return frame_count_ - free_pages_; }
  uint64_t peak_used_pages() const { return peak_used_; }
  uint64_t owned_pages(Owner o) const { return owned_[static_cast<int>(o)]; }
  uint64_t metadata_bytes() const { return metadata_bytes_; }
  uint64_t kswapd_wakeups() const { return kswapd_wakeups_; }
  uint64_t failures() const { return failures_; }
  const Watermarks& watermarks() const { return wmarks_; }
  const MemoryConfig& config() const { return config_; }
  bool IsAllocated(uint32_t frame) const;

  // Checks every internal invariant (counts match the bitmaps, owners sum to
  // used pages); returns a description of the first violation, or "".
  std::string CheckInvariants() const;

 private:
  struct Block {
    std::array<uint64_t, kPagesPerHuge / 64> used{};
    uint32_t free = kPagesPerHuge;
  };

  bool MayAllocate(AllocClass cls, uint64_t pages);
  bool Fail(AllocClass cls, Owner owner, uint32_t pages);
  void Take(uint32_t frame);
  void Account(Owner owner, int64_t pages);
  void NoteBlock(uint32_t block, uint32_t old_free);
  // The block the next single-frame allocation comes from; false if none.
  bool NextBlock(uint32_t* block) const;

  MemoryConfig config_;
  uint64_t frame_count_;
  Watermarks wmarks_;
  std::vector<Block> blocks_;
  BlockSet partial_blocks_;  // some frames used, some free
  BlockSet empty_blocks_;    // every frame free (only whole blocks)
  uint64_t free_pages_;
  uint64_t peak_used_ = 0;
  std::array<uint64_t, static_cast<int>(Owner::kCount)> owned_{};
  uint64_t metadata_bytes_ = 0;
  std::vector<uint32_t> metadata_frames_;
  uint64_t kswapd_wakeups_ = 0;
  uint64_t failures_ = 0;
  Injector injector_;
  std::function<uint64_t(uint64_t)> reclaimer_;
  std::function<void()> kswapd_waker_;
  std::function<void(AllocClass, Owner, uint32_t)> failure_observer_;
  std::vector<uint32_t> pool_;
};

}  // namespace faultlab::mem

#endif  // FAULTLAB_ENGINE_MEM_MEMORY_H_
