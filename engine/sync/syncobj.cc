#include "engine/sync/syncobj.h"

namespace faultlab::sync {

std::shared_ptr<Fence> SignalledStub() {
  auto f = std::make_shared<Fence>();
  f->signalled = true;
  return f;
}

void Syncobj::ReplaceFence(std::shared_ptr<Fence> fence) {
  fence_ = std::move(fence);
  chain_.clear();
}

void Syncobj::AddPoint(uint64_t point, std::shared_ptr<Fence> fence) {
  if (!chain_.empty() && point <= chain_.back().seqno) point = chain_.back().seqno;
  chain_.push_back(Node{point, fence});
  fence_ = std::move(fence);
}

std::shared_ptr<Fence> Syncobj::FenceForPoint(uint64_t point) const {
  if (point == 0 || chain_.empty()) return fence_;
  for (const Node& n : chain_) {
    if (n.seqno >= point) return n.fence;
  }
  return nullptr;
}

uint64_t Syncobj::QueryPoint(bool last_submitted) const {
  if (chain_.empty()) return 0;
  if (last_submitted) return chain_.back().seqno;
  uint64_t point = 0;
  for (const Node& n : chain_) {
    if (!n.fence || !n.fence->signalled) break;
    point = n.seqno;
  }
  return point;
}

}  // namespace faultlab::sync
