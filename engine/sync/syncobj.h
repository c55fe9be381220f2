// Syncobj: a DRM sync object (drm_syncobj.c) — a slot for a fence, and for
// timeline syncobjs a chain of points. Fences are shared objects that the
// scheduler (Engine B/C) signals; until then every fence attached here is a
// signalled stub (dma_fence_get_stub()).
#ifndef FAULTLAB_ENGINE_SYNC_SYNCOBJ_H_
#define FAULTLAB_ENGINE_SYNC_SYNCOBJ_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace faultlab::sync {

// struct dma_fence: signalled once, with an error (0 or -errno); waiters run
// synchronously, in registration order, inside the signalling event.
struct Fence {
  bool signalled = false;
  int error = 0;
  std::vector<std::function<void()>> waiters;

  void Signal(int err) {
    if (signalled) return;
    signalled = true;
    error = err;
    std::vector<std::function<void()>> w = std::move(waiters);
    waiters.clear();
    for (auto& fn : w) fn();
  }
  void OnSignal(std::function<void()> fn) {
    if (signalled) {
      fn();
    } else {
      waiters.push_back(std::move(fn));
    }
  }
};

std::shared_ptr<Fence> SignalledStub();

class Syncobj {
 public:
  // The current fence (the head of the chain for timelines), or nullptr.
  const std::shared_ptr<Fence>& fence() const { return fence_; }

  // drm_syncobj_replace_fence(): sets the binary fence and drops the chain.
  void ReplaceFence(std::shared_ptr<Fence> fence);
  // drm_syncobj_add_point(): appends `point` (a lower point is raised to the
  // head's, as dma_fence_chain_init() does); the point signals when `fence`
  // and every earlier point have (a dma_fence_chain).
  void AddPoint(uint64_t point, std::shared_ptr<Fence> fence);
  // The fence for `point`: the first chain node at or after it (0 = the head).
  // Returns nullptr if the timeline has not reached `point` yet.
  std::shared_ptr<Fence> FenceForPoint(uint64_t point) const;

  // DRM_IOCTL_SYNCOBJ_QUERY: the last submitted point, or the last point whose
  // fence (and every earlier one) has signalled. 0 without a chain.
  uint64_t QueryPoint(bool last_submitted) const;
  bool has_chain() const { return !chain_.empty(); }

 private:
  struct Node {
    uint64_t seqno;
    std::shared_ptr<Fence> fence;
  };
  std::shared_ptr<Fence> fence_;
  std::vector<Node> chain_;  // ascending seqno
};

}  // namespace faultlab::sync

#endif  // FAULTLAB_ENGINE_SYNC_SYNCOBJ_H_
