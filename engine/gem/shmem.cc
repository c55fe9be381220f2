#include "engine/gem/shmem.h"

namespace faultlab::gem {

ShmemPages::~ShmemPages() {
  for (auto& [index, leaf] : leaves_) {
    for (uint32_t f : leaf->frames) {
      if (f != kNoFrame) mem_->Free(f, mem::Owner::kBoPage);
    }
  }
}

bool ShmemPages::Get(uint64_t idx, mem::AllocClass cls, uint32_t* frame, uint32_t* allocated) {
  *allocated = 0;
  std::unique_ptr<Leaf>& leaf = leaves_[idx / mem::kPagesPerHuge];
  if (!leaf) leaf = std::make_unique<Leaf>();
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

uint32_t ShmemPages::FrameOf(uint64_t idx) const {
  auto it = leaves_.find(idx / mem::kPagesPerHuge);
  return it == leaves_.end() ? kNoFrame : it->second->frames[idx % mem::kPagesPerHuge];
}

bool ShmemPages::IsHuge(uint64_t idx) const {
  auto it = leaves_.find(idx / mem::kPagesPerHuge);
  return it != leaves_.end() && it->second->huge;
}

}  // namespace faultlab::gem
