#include "engine/gem/sparse.h"

#include <algorithm>

#include "engine/uapi/errno.h"

namespace faultlab::gem {

using uapi::kEINVAL;
using uapi::kENOENT;
using uapi::kENOMEM;

SparseBacking::SparseBacking(mem::MemoryModel* mem, uint32_t granularity_pages)
    : mem_(mem),
      granularity_pages_(granularity_pages),
      granule_shift_(static_cast<uint32_t>(__builtin_ctz(granularity_pages))) {}

SparseBacking::~SparseBacking() {
  if (metadata_bytes_) mem_->FreeMetadata(metadata_bytes_);
}

bool SparseBacking::LeafNodeStored(uint64_t idx) {
  const uint64_t node = idx >> 6;
  if (node == last_leaf_node_) return true;  // consecutive pages share it
  const bool stored = leaf_nodes_.empty() ? xa_nodes_.contains(uint64_t{1} << 56 | node)
                                          : (leaf_nodes_[node / 64] >> (node % 64)) & 1;
  if (stored) last_leaf_node_ = node;
  return stored;
}

void SparseBacking::AddNode(uint32_t level, uint64_t index) {
  if (level == 1 && !leaf_nodes_.empty()) {
    leaf_nodes_[index / 64] |= uint64_t{1} << (index % 64);
  } else {
    xa_nodes_.insert(static_cast<uint64_t>(level) << 56 | index);
  }
}

bool SparseBacking::StorePage(uint64_t idx, mem::AllocClass cls, PopulateStats* stats) {
  // A 64-slot xa_node per level on the path to `idx` (XA_CHUNK_SHIFT = 6).
  // When the leaf-level node exists, every node above it does too.
  if (LeafNodeStored(idx)) return true;
  for (uint32_t level = 1; level <= 6; ++level) {
    const uint64_t key = static_cast<uint64_t>(level) << 56 | (idx >> (6 * level));
    if (level > 1 && xa_nodes_.contains(key)) continue;  // the leaf: not stored (above)
    if (!mem_->AllocMetadata(kXaNodeBytes, cls)) {
      stats->metadata_failed = true;
      return false;
    }
    AddNode(level, idx >> (6 * level));
    metadata_bytes_ += kXaNodeBytes;
    ++stats->metadata;
    if ((idx >> (6 * level)) == 0) break;  // the root covers it
  }
  last_leaf_node_ = idx >> 6;
  return true;
}

bool SparseBacking::AddSgt(const ShmemPages& pages, uint64_t first_page, uint64_t npages,
                           mem::AllocClass cls, SgtMap::iterator hint, PopulateStats* stats) {
  // One scatterlist entry per physically contiguous run of frames
  // (sg_alloc_table_from_pages_segment() merges contiguous pages).
  uint64_t segments = 0;
  for (uint64_t i = 0; i < npages; ++segments) {
    i += pages.ContiguousRun(first_page + i, npages - i);
  }
  const uint64_t bytes = kSgtEntryBytes + segments * kScatterlistBytes;
  if (!mem_->AllocMetadata(bytes, cls)) {
    stats->metadata_failed = true;
    return false;
  }
  metadata_bytes_ += bytes;
  ++stats->metadata;
  ++stats->sgt_entries;
  sgts_.emplace_hint(hint, first_page >> granule_shift_, SgtEntry{first_page, npages, bytes});
  last_added_ = SgtEntry{first_page, npages, bytes};
  populated_granules_ += npages >> granule_shift_;
  return true;
}

int SparseBacking::PopulateRange(ShmemPages& pages, uint64_t offset, uint64_t npages,
                                 mem::AllocClass page_cls, mem::AllocClass other_cls,
                                 PopulateStats* stats) {
  if ((offset | npages) & (granularity_pages_ - 1)) return -kEINVAL;
  if (npages == 0) return 0;
  // drm_gem_get_page_range(): overflow or beyond the object is -EINVAL.
  if (offset + npages < offset || offset + npages > pages.npages()) return -kEINVAL;
  if (leaf_nodes_.empty() && pages.npages() <= kLeafBitmapMaxPages) {
    leaf_nodes_.resize(pages.npages() / 64 / 64 + 1);  // a bit per leaf node
  }
  // Page by page the kernel takes a page, then the xarray nodes storing it
  // needs; the pages sharing a leaf node (64) need nothing more, so after the
  // first of them (or from the first, when their node is there) the rest are
  // taken as one run, in the same order.
  for (uint64_t i = 0; i < npages;) {
    const uint64_t idx = offset + i;
    const uint64_t rest = std::min(npages - i, 64 - idx % 64);
    uint64_t taken = 0;
    bool ok = true;
    if (!LeafNodeStored(idx)) {
      uint32_t frame, allocated;
      ok = pages.Get(idx, page_cls, &frame, &allocated);
      stats->pages += ok ? allocated : 0;
      if (ok && !StorePage(idx, other_cls, stats)) return -kENOMEM;
      taken = 1;
    }
    uint64_t more = 0;
    ok = ok && pages.GetRange(idx + taken, rest - taken, page_cls, &more);
    stats->pages += static_cast<uint32_t>(more);
    if (!ok) {
      stats->page_failed = true;
      return -kENOMEM;
    }
    i += rest;
  }
  // Walk the granules; skip those with an entry, cover each run of
  // unpopulated ones with one new entry.
  const uint64_t first = offset >> granule_shift_;
  const uint64_t last = (offset + npages - 1) >> granule_shift_;
  uint64_t g = first;
  while (g <= last) {
    // Faults mostly populate upwards: past the last entry, no search.
    auto it = sgts_.empty() || g > sgts_.rbegin()->first ? sgts_.end() : sgts_.upper_bound(g);
    if (it != sgts_.begin()) {
      auto prev = std::prev(it);
      const uint64_t end = prev->first + (prev->second.npages >> granule_shift_);
      if (g < end) {
        g = end;  // already populated: skip the whole entry
        continue;
      }
    }
    uint64_t run_end = last + 1;
    if (it != sgts_.end() && it->first < run_end) run_end = it->first;
    if (!AddSgt(pages, g << granule_shift_, (run_end - g) << granule_shift_, other_cls, it,
                stats)) {
      return -kENOMEM;
    }
    g = run_end;
  }
  return 0;
}

int SparseBacking::GetSgt(uint64_t gem_pgoffset, uint64_t* sgt_pgoffset,
                          uint64_t* remaining_pages) const {
  if (gem_pgoffset & (granularity_pages_ - 1)) return -kEINVAL;
  // The entry just added is the one the fault path maps next: entries are
  // never changed or removed, so a copy of it answers as the map would.
  const SgtEntry* found = &last_added_;
  if (gem_pgoffset < last_added_.gem_pgoffset ||
      gem_pgoffset >= last_added_.gem_pgoffset + last_added_.npages) {
    auto it = sgts_.upper_bound(gem_pgoffset >> granule_shift_);
    if (it == sgts_.begin()) return -kENOENT;
    found = &std::prev(it)->second;
  }
  const SgtEntry& e = *found;
  if (gem_pgoffset >= e.gem_pgoffset + e.npages) return -kENOENT;
  *sgt_pgoffset = gem_pgoffset - e.gem_pgoffset;
  *remaining_pages = e.npages - *sgt_pgoffset;
  return 0;
}

bool SparseBacking::GranulePopulated(uint64_t g) const {
  uint64_t off, rem;
  return GetSgt(g << granule_shift_, &off, &rem) == 0;
}

}  // namespace faultlab::gem
