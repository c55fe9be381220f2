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
  // A dma_fence_chain node signals once its fence and every earlier point's
  // have (dma_fence_chain_signaled()): waiting on a point waits for all
  // before it too — what panvk's per-subqueue points of one timeline rely on.
  std::shared_ptr<Fence> node = fence;
  if (!chain_.empty() && chain_.back().fence && !chain_.back().fence->signalled) {
    // The node holds neither fence (no cycle through their waiters): a
    // count of the two still to signal, and the point's own error.
    node = std::make_shared<Fence>();
    auto left = std::make_shared<int>(2);
    auto error = std::make_shared<int>(0);
    chain_.back().fence->OnSignal([node, left, error] {
      if (--*left == 0) node->Signal(*error);
    });
    Fence* own = fence.get();
    fence->OnSignal([node, left, error, own] {
      *error = own->error;
      if (--*left == 0) node->Signal(*error);
    });
  }
  chain_.push_back(Node{point, node});
  fence_ = std::move(node);
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
