#include "engine/mem/memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/base/check.h"

namespace faultlab::mem {
namespace {

uint64_t IntSqrt(uint64_t x) {
  uint64_t r = 0;
  for (uint64_t bit = 1ULL << 62; bit != 0; bit >>= 2) {
    if (x >= r + bit) {
      x -= r + bit;
      r = (r >> 1) + bit;
    } else {
      r >>= 1;
    }
  }
  return r;
}

}  // namespace

const char* AllocClassName(AllocClass c) {
  switch (c) {
    case AllocClass::kBlocking:
      return "blocking";
    case AllocClass::kNoretry:
      return "noretry";
    case AllocClass::kNowait:
      return "nowait";
    case AllocClass::kPool:
      return "pool";
  }
  return "?";
}

const char* ThpModeName(ThpMode m) { return m == ThpMode::kNever ? "never" : "within_size"; }

const char* OwnerName(Owner o) {
  switch (o) {
    case Owner::kBoPage:
      return "bo_page";
    case Owner::kPageTable:
      return "page_table";
    case Owner::kMetadata:
      return "metadata";
    case Owner::kTenant:
      return "tenant";
    case Owner::kPool:
      return "pool";
    case Owner::kReserve:
      return "reserve";
    default:
      return "?";
  }
}

Watermarks ComputeWatermarks(uint64_t managed_pages) {
  // calculate_min_free_kbytes(): int_sqrt(lowmem_kbytes * 16), clamped.
  uint64_t min_kbytes = IntSqrt(managed_pages * 4 * 16);
  min_kbytes = std::clamp<uint64_t>(min_kbytes, 128, 262144);
  Watermarks w;
  w.min_pages = min_kbytes / 4;
  // __setup_per_zone_wmarks() with watermark_scale_factor = 10.
  const uint64_t tmp = std::max(w.min_pages / 4, managed_pages * 10 / 10000);
  w.low_pages = w.min_pages + tmp;
  w.high_pages = w.low_pages + tmp;
  return w;
}

MemoryModel::MemoryModel(MemoryConfig config)
    : config_(config),
      frame_count_(config.budget_bytes / kPageSize),
      wmarks_(ComputeWatermarks(frame_count_)),
      blocks_((frame_count_ + kPagesPerHuge - 1) / kPagesPerHuge),
      partial_blocks_(static_cast<uint32_t>(blocks_.size())),
      empty_blocks_(static_cast<uint32_t>(blocks_.size())),
      free_pages_(frame_count_) {
  const uint64_t nblocks = blocks_.size();
  for (uint32_t b = 0; b < nblocks; ++b) {
    const uint64_t first = static_cast<uint64_t>(b) * kPagesPerHuge;
    const uint64_t n = std::min<uint64_t>(kPagesPerHuge, frame_count_ - first);
    blocks_[b].free = static_cast<uint32_t>(n);
    // Frames past the budget in a last, partial block are permanently used.
    for (uint64_t i = n; i < kPagesPerHuge; ++i) blocks_[b].used[i / 64] |= 1ULL << (i % 64);
    if (n == kPagesPerHuge) {
      empty_blocks_.Insert(b);
    } else {
      partial_blocks_.Insert(b);
    }
  }
}

bool MemoryModel::MayAllocate(AllocClass cls, uint64_t pages) {
  // Every class stops at the min watermark. Classes with
  // __GFP_KSWAPD_RECLAIM (GFP_KERNEL, GFP_NOWAIT) wake kswapd below low; the
  // seed's fault-path gfp has no reclaim bits and wakes nobody. kBlocking
  // direct-reclaims what it needs first.
  if ((cls == AllocClass::kNowait || cls == AllocClass::kBlocking) &&
      free_pages_ < wmarks_.low_pages + pages) {
    ++kswapd_wakeups_;
    if (kswapd_waker_) kswapd_waker_();
  }
  if (cls == AllocClass::kBlocking && free_pages_ < wmarks_.min_pages + pages && reclaimer_) {
    reclaimer_(wmarks_.min_pages + pages - free_pages_);
  }
  return free_pages_ >= wmarks_.min_pages + pages;
}

bool MemoryModel::Fail(AllocClass cls, Owner owner, uint32_t pages) {
  ++failures_;
  if (failure_observer_) failure_observer_(cls, owner, pages);
  return false;
}

uint64_t MemoryModel::FillPool(uint64_t pages) {
  uint64_t added = 0;
  while (pool_.size() < pages) {
    uint32_t f;
    if (!AllocPage(AllocClass::kBlocking, Owner::kPool, &f)) break;
    pool_.push_back(f);
    ++added;
  }
  return added;
}

void MemoryModel::NoteBlock(uint32_t b, uint32_t old_free) {
  // Set membership follows the free count: empty (all free), partial, full.
  auto state = [](uint32_t free) { return free == kPagesPerHuge ? 2 : free > 0 ? 1 : 0; };
  const int before = state(old_free), after = state(blocks_[b].free);
  if (before == after) return;
  if (before == 2) empty_blocks_.Erase(b);
  if (before == 1) partial_blocks_.Erase(b);
  if (after == 2) empty_blocks_.Insert(b);
  if (after == 1) partial_blocks_.Insert(b);
}

void MemoryModel::Take(uint32_t frame) {
  Block& blk = blocks_[frame / kPagesPerHuge];
  const uint32_t i = frame % kPagesPerHuge;
  blk.used[i / 64] |= 1ULL << (i % 64);
  --blk.free;
  --free_pages_;
}

void MemoryModel::Account(Owner owner, int64_t pages) {
  owned_[static_cast<int>(owner)] += pages;
  peak_used_ = std::max(peak_used_, used_pages());
}

bool MemoryModel::AllocPage(AllocClass cls, Owner owner, uint32_t* frame) {
  if (cls == AllocClass::kPool) {
    if (!pool_.empty()) {
      *frame = pool_.back();  // the reserve's frame changes hands
      pool_.pop_back();
      --owned_[static_cast<int>(Owner::kPool)];
      Account(owner, 1);
      return true;
    }
    cls = AllocClass::kNoretry;
  }
  if (!MayAllocate(cls, 1) || (injector_ && injector_(cls, owner, 1))) {
    return Fail(cls, owner, 1);
  }
  uint32_t b;
  if (!NextBlock(&b)) return Fail(cls, owner, 1);
  Block& blk = blocks_[b];
  for (uint32_t w = 0; w < blk.used.size(); ++w) {
    if (blk.used[w] != ~0ULL) {
      const uint32_t bit = static_cast<uint32_t>(__builtin_ctzll(~blk.used[w]));
      *frame = b * kPagesPerHuge + w * 64 + bit;
      const uint32_t old_free = blk.free;
      Take(*frame);
      NoteBlock(b, old_free);
      Account(owner, 1);
      return true;
    }
  }
  FAULTLAB_CHECK(false, "block ", b, " is in the free sets with no free frame");
  return false;
}

bool MemoryModel::NextBlock(uint32_t* b) const {
  if (!partial_blocks_.empty()) {
    *b = partial_blocks_.First();
  } else if (!empty_blocks_.empty()) {
    *b = empty_blocks_.First();
  } else {
    return false;
  }
  return true;
}

uint32_t MemoryModel::AllocPages(AllocClass cls, Owner owner, uint32_t n, uint32_t* frames) {
  // The i-th of n AllocPage calls sees free_pages_ - i free frames. None of
  // them wakes kswapd (free - i >= low + 1), reclaims or fails (free - i >=
  // min + 1) when free >= low + n (kswapd classes) or min + n (the others);
  // the pool and an injector decide page by page.
  const bool wakes = cls == AllocClass::kNowait || cls == AllocClass::kBlocking;
  const uint64_t floor = (wakes ? wmarks_.low_pages : wmarks_.min_pages) + n;
  if (cls == AllocClass::kPool || injector_ || free_pages_ < floor) {
    uint32_t got = 0;
    while (got < n && AllocPage(cls, owner, &frames[got])) ++got;
    return got;
  }
  // AllocPage takes the lowest free frame of the lowest partial block, else
  // of the lowest empty one; a block it starts on stays the lowest partial
  // one until full, so each block gives its lowest free frames in turn.
  uint32_t got = 0;
  while (got < n) {
    uint32_t b;
    FAULTLAB_CHECK(NextBlock(&b), n - got, " frames counted free but no block has one");
    Block& blk = blocks_[b];
    const uint32_t old_free = blk.free;
    for (uint32_t w = 0; w < blk.used.size() && got < n; ++w) {
      uint64_t avail = ~blk.used[w];
      while (avail != 0 && got < n) {
        const uint32_t bit = static_cast<uint32_t>(__builtin_ctzll(avail));
        avail &= avail - 1;
        blk.used[w] |= 1ULL << bit;
        frames[got++] = b * kPagesPerHuge + w * 64 + bit;
        --blk.free;
      }
    }
    free_pages_ -= old_free - blk.free;
    NoteBlock(b, old_free);
  }
  Account(owner, n);
  return n;
}

bool MemoryModel::AllocHuge(AllocClass cls, Owner owner, uint32_t* first_frame) {
  if (cls == AllocClass::kPool) cls = AllocClass::kNoretry;  // the reserve holds 4 KiB pages
  if (config_.thp != ThpMode::kWithinSize) return false;     // not a failure: never tried
  if (empty_blocks_.empty() || !MayAllocate(cls, kPagesPerHuge) ||
      (injector_ && injector_(cls, owner, kPagesPerHuge))) {
    // A failed huge attempt falls back to 4 KiB pages: counted, not reported.
    ++failures_;
    return false;
  }
  const uint32_t b = empty_blocks_.First();
  blocks_[b].used.fill(~0ULL);
  blocks_[b].free = 0;
  free_pages_ -= kPagesPerHuge;
  NoteBlock(b, kPagesPerHuge);
  *first_frame = b * kPagesPerHuge;
  Account(owner, kPagesPerHuge);
  return true;
}

void MemoryModel::Free(uint32_t frame, Owner owner) { FreePages(&frame, 1, owner); }

void MemoryModel::FreePages(const uint32_t* frames, uint32_t n, Owner owner) {
  FAULTLAB_CHECK(owned_[static_cast<int>(owner)] >= n, n, " frames freed by an owner holding ",
                 owned_[static_cast<int>(owner)]);
  uint32_t i = 0;
  while (i < n) {
    // The frames of one block: one set update for all of them (the block
    // read only once its first frame is known to be one).
    FAULTLAB_CHECK(IsAllocated(frames[i]), "frame ", frames[i], " freed twice");
    const uint32_t b = frames[i] / kPagesPerHuge;
    const uint32_t old_free = blocks_[b].free;
    for (; i < n && frames[i] / kPagesPerHuge == b; ++i) {
      FAULTLAB_CHECK(IsAllocated(frames[i]), "frame ", frames[i], " freed twice");
      const uint32_t bit = frames[i] % kPagesPerHuge;
      blocks_[b].used[bit / 64] &= ~(1ULL << (bit % 64));
      ++blocks_[b].free;
    }
    free_pages_ += blocks_[b].free - old_free;
    NoteBlock(b, old_free);
  }
  owned_[static_cast<int>(owner)] -= n;
}

void MemoryModel::Transfer(uint32_t frame, Owner from, Owner to) {
  FAULTLAB_CHECK(IsAllocated(frame) && owned_[static_cast<int>(from)] != 0, "frame ", frame,
                 " transferred from an owner that holds none");
  --owned_[static_cast<int>(from)];
  ++owned_[static_cast<int>(to)];
}

bool MemoryModel::IsAllocated(uint32_t frame) const {
  if (frame >= frame_count_) return false;
  const Block& blk = blocks_[frame / kPagesPerHuge];
  const uint32_t i = frame % kPagesPerHuge;
  return (blk.used[i / 64] >> (i % 64)) & 1;
}

bool MemoryModel::AllocMetadata(uint64_t bytes, AllocClass cls) {
  const uint64_t needed = (metadata_bytes_ + bytes + kPageSize - 1) / kPageSize;
  while (metadata_frames_.size() < needed) {
    uint32_t f;
    if (!AllocPage(cls, Owner::kMetadata, &f)) return false;
    metadata_frames_.push_back(f);
  }
  metadata_bytes_ += bytes;
  return true;
}

void MemoryModel::FreeMetadata(uint64_t bytes) {
  FAULTLAB_CHECK(bytes <= metadata_bytes_, "freeing ", bytes, " metadata bytes of ",
                 metadata_bytes_);
  metadata_bytes_ -= bytes;
  const uint64_t needed = (metadata_bytes_ + kPageSize - 1) / kPageSize;
  while (metadata_frames_.size() > needed) {
    Free(metadata_frames_.back(), Owner::kMetadata);
    metadata_frames_.pop_back();
  }
}

std::string MemoryModel::CheckInvariants() const {
  uint64_t free = 0;
  for (uint32_t b = 0; b < blocks_.size(); ++b) {
    uint32_t used = 0;
    for (uint64_t w : blocks_[b].used) used += __builtin_popcountll(w);
    if (kPagesPerHuge - used != blocks_[b].free) return absl::StrCat("block ", b, " free count");
    const bool in_partial = partial_blocks_.Contains(b);
    const bool in_empty = empty_blocks_.Contains(b);
    if (in_empty != (blocks_[b].free == kPagesPerHuge) ||
        in_partial != (blocks_[b].free > 0 && blocks_[b].free < kPagesPerHuge)) {
      return absl::StrCat("block ", b, " set membership");
    }
    free += blocks_[b].free;
  }
  if (free != free_pages_) return absl::StrCat("free pages ", free_pages_, " vs bitmaps ", free);
  uint64_t owned = 0;
  for (uint64_t o : owned_) owned += o;
  if (owned != used_pages()) return absl::StrCat("owners sum to ", owned, ", used ", used_pages());
  if (pool_.size() != owned_[static_cast<int>(Owner::kPool)]) return "pool frames vs owner count";
  if (metadata_frames_.size() != owned_[static_cast<int>(Owner::kMetadata)]) {
    return "metadata frames vs owner count";
  }
  if (metadata_bytes_ > metadata_frames_.size() * kPageSize) return "metadata bytes exceed frames";
  return "";
}

}  // namespace faultlab::mem
