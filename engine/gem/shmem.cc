#include "engine/gem/shmem.h"

#include <algorithm>

namespace faultlab::gem {

ShmemPages::~ShmemPages() {
  for (auto& [index, leaf] : leaves_) {
    std::array<uint32_t, mem::kPagesPerHuge> frames;
    uint32_t n = 0;
    for (uint32_t f : leaf->frames) {
      if (f != kNoFrame) frames[n++] = f;
    }
    mem_->FreePages(frames.data(), n, mem::Owner::kBoPage);
  }
}

ShmemPages::Leaf* ShmemPages::Find(uint64_t key) const {
  if (key == last_key_) return last_leaf_;
  auto it = leaves_.find(key);
  if (it == leaves_.end()) return nullptr;
  last_key_ = key;
  last_leaf_ = it->second.get();
  return last_leaf_;
}

ShmemPages::Leaf* ShmemPages::FindOrAdd(uint64_t key) {
  Leaf* leaf = Find(key);
  if (leaf != nullptr) return leaf;
  std::unique_ptr<Leaf>& made = leaves_[key];
  made = std::make_unique<Leaf>();
  return made.get();
}

bool ShmemPages::Get(uint64_t idx, mem::AllocClass cls, uint32_t* frame, uint32_t* allocated) {
  *allocated = 0;
  Leaf* leaf = FindOrAdd(idx / mem::kPagesPerHuge);
  uint32_t& slot = leaf->frames[idx % mem::kPagesPerHuge];
  if (slot != kNoFrame) {
    *frame = slot;
    return true;
  }
  const uint64_t folio_end = (idx / mem::kPagesPerHuge + 1) * mem::kPagesPerHuge;
  uint32_t first;
  if (leaf->count == 0 && folio_end <= npages_ && mem_->config().thp == mem::ThpMode::kWithinSize &&
      mem_->AllocHuge(cls, mem::Owner::kBoPage, &first)) {
    for (uint32_t i = 0; i < mem::kPagesPerHuge; ++i) leaf->frames[i] = first + i;
    leaf->huge = true;
    leaf->count = mem::kPagesPerHuge;
    populated_ += mem::kPagesPerHuge;
    *allocated = mem::kPagesPerHuge;
    *frame = slot;
    return true;
  }
  if (!mem_->AllocPage(cls, mem::Owner::kBoPage, &first)) return false;
  slot = first;
  ++leaf->count;
  ++populated_;
  *allocated = 1;
  *frame = slot;
  return true;
}

bool ShmemPages::GetRange(uint64_t idx, uint64_t n, mem::AllocClass cls, uint64_t* allocated) {
  while (n > 0) {
    Leaf* leaf = FindOrAdd(idx / mem::kPagesPerHuge);
    if (leaf->count == 0 && mem_->config().thp == mem::ThpMode::kWithinSize) {
      // The first touch of a leaf may take its whole folio: Get() decides.
      uint32_t frame, got;
      if (!Get(idx, cls, &frame, &got)) return false;
      *allocated += got;
      ++idx, --n;
      continue;
    }
    const uint32_t first = idx % mem::kPagesPerHuge;
    const uint32_t k = static_cast<uint32_t>(std::min<uint64_t>(n, mem::kPagesPerHuge - first));
    uint32_t missing = 0;
    for (uint32_t i = first; i < first + k; ++i) missing += leaf->frames[i] == kNoFrame;
    std::array<uint32_t, mem::kPagesPerHuge> frames;
    const uint32_t got = mem_->AllocPages(cls, mem::Owner::kBoPage, missing, frames.data());
    uint32_t used = 0;
    for (uint32_t i = first; i < first + k && used < got; ++i) {
      if (leaf->frames[i] == kNoFrame) leaf->frames[i] = frames[used++];
    }
    leaf->count += got;
    populated_ += got;
    *allocated += got;
    if (got < missing) return false;
    idx += k, n -= k;
  }
  return true;
}

uint64_t ShmemPages::ContiguousRun(uint64_t idx, uint64_t max) const {
  const uint64_t first = FrameOf(idx);
  if (first == kNoFrame) return 1;
  uint64_t run = 1;
  while (run < max) {
    const Leaf* leaf = Find((idx + run) / mem::kPagesPerHuge);
    if (leaf == nullptr) break;
    uint32_t i = (idx + run) % mem::kPagesPerHuge;
    while (i < mem::kPagesPerHuge && run < max && leaf->frames[i] == first + run) ++i, ++run;
    if (i < mem::kPagesPerHuge) break;  // stopped inside this leaf
  }
  return run;
}

uint32_t ShmemPages::FrameOf(uint64_t idx) const {
  const Leaf* leaf = Find(idx / mem::kPagesPerHuge);
  return leaf == nullptr ? kNoFrame : leaf->frames[idx % mem::kPagesPerHuge];
}

bool ShmemPages::IsHuge(uint64_t idx) const {
  const Leaf* leaf = Find(idx / mem::kPagesPerHuge);
  return leaf != nullptr && leaf->huge;
}

}  // namespace faultlab::gem
