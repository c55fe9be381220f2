#include "engine/gem/mmap_offset.h"

namespace faultlab::gem {

uint64_t MmapOffsets::Add(uint64_t npages, uint64_t owner) {
  uint64_t best = 0, best_size = ~0ULL;
  uint64_t cursor = kFilePageOffsetStart;
  const uint64_t end = kFilePageOffsetStart + kFilePageOffsetSize;
  auto consider = [&](uint64_t hole_start, uint64_t hole_end) {
    const uint64_t size = hole_end - hole_start;
    if (size >= npages && size < best_size) {
      best = hole_start;
      best_size = size;
    }
  };
  for (const auto& [start, node] : nodes_) {
    consider(cursor, start);
    cursor = start + node.npages;
  }
  consider(cursor, end);
  if (best_size == ~0ULL) return 0;
  nodes_[best] = Node{npages, owner};
  return best;
}

void MmapOffsets::Remove(uint64_t pgoff) { nodes_.erase(pgoff); }

uint64_t MmapOffsets::Lookup(uint64_t pgoff, uint64_t npages) const {
  auto it = nodes_.upper_bound(pgoff);
  if (it == nodes_.begin()) return 0;
  --it;
  if (pgoff + npages > it->first + it->second.npages || pgoff + npages < pgoff) return 0;
  return it->second.owner;
}

}  // namespace faultlab::gem
