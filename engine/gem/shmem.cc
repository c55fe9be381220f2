#include "engine/gem/shmem.h"

namespace faultlab::gem {

ShmemPages::~ShmemPages() {
  for (auto& [index, leaf] : leaves_) {
    for (uint32_t f : leaf->frames) {
      if (f != kNoFrame) mem_->Free(f, mem::Owner::kBoPage);
    }
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

bool ShmemPages::Get(uint64_t idx, mem::AllocClass cls, uint32_t* frame, uint32_t* allocated) {
  *allocated = 0;
  Leaf* leaf = Find(idx / mem::kPagesPerHuge);
  if (leaf == nullptr) {
    std::unique_ptr<Leaf>& made = leaves_[idx / mem::kPagesPerHuge];
    made = std::make_unique<Leaf>();
    leaf = made.get();
  }
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
  const Leaf* leaf = Find(idx / mem::kPagesPerHuge);
  return leaf == nullptr ? kNoFrame : leaf->frames[idx % mem::kPagesPerHuge];
}

bool ShmemPages::IsHuge(uint64_t idx) const {
  const Leaf* leaf = Find(idx / mem::kPagesPerHuge);
  return leaf != nullptr && leaf->huge;
}

}  // namespace faultlab::gem
