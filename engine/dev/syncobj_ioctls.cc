// DRM syncobjs (drm_syncobj.c): create, destroy, wait (binary and
// timeline, in virtual time), reset, signal, query, transfer.
#include <algorithm>

#include "engine/dev/device.h"
#include "engine/dev/uobj.h"
#include "engine/mem/memory.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"

namespace faultlab::dev {

using namespace uapi;  // NOLINT: the ABI's names read best unqualified here

namespace {

// drm_syncobj wait flags (drm.h).
constexpr uint32_t kWaitAll = 1u << 0;
constexpr uint32_t kWaitForSubmit = 1u << 1;
constexpr uint32_t kWaitAvailable = 1u << 2;
constexpr uint32_t kWaitDeadline = 1u << 3;

}  // namespace

// Models drm_syncobj_create_ioctl().
int Device::IoctlSyncobjCreate(File& f, void* data) {
  auto* c = static_cast<uapi::DrmSyncobjCreate*>(data);
  if (c->flags & ~kDrmSyncobjCreateSignaled) return -kEINVAL;
  auto obj = std::make_shared<sync::Syncobj>();
  if (c->flags & kDrmSyncobjCreateSignaled) obj->ReplaceFence(sync::SignalledStub());
  // idr_alloc(..., 1, 0): the lowest free handle from 1.
  const uint32_t h = File::LowestFreeId(f.syncobjs_);
  f.syncobjs_[h] = std::move(obj);
  c->handle = h;
  return 0;
}

// Models drm_syncobj_destroy_ioctl().
int Device::IoctlSyncobjDestroy(File& f, void* data) {
  auto* d = static_cast<uapi::DrmSyncobjDestroy*>(data);
  if (d->pad) return -kEINVAL;
  return f.syncobjs_.erase(d->handle) ? 0 : -kEINVAL;
}

// Models drm_syncobj_array_find(): memdup_array_user() of the handles
// (kmalloc: -ENOMEM past KMALLOC_MAX_SIZE, then -EFAULT), kmalloc_array() of
// the syncobj pointers (-ENOMEM likewise), -ENOENT for an unknown handle.
int Device::SyncobjArrayFind(File& f, uint64_t user_handles, uint32_t count,
                             std::vector<sync::Syncobj*>* out) {
  if (uint64_t{count} * sizeof(uint32_t) > mem::kKmallocMaxSize) return -kENOMEM;
  std::vector<uint32_t> handles;
  if (int ret = CopyArrayFromUser(*f.umem_, user_handles, count, &handles); ret) return ret;
  if (uint64_t{count} * sizeof(uint64_t) > mem::kKmallocMaxSize) return -kENOMEM;
  out->clear();
  for (uint32_t h : handles) {
    auto it = f.syncobjs_.find(h);
    if (it == f.syncobjs_.end()) return -kENOENT;
    out->push_back(it->second.get());
  }
  return 0;
}

// Models drm_syncobj_array_wait_timeout(): the fences are looked up now (a
// missing one is -EINVAL unless WAIT_FOR_SUBMIT), then virtual time runs until
// all (WAIT_ALL) or any of them signalled, or the absolute timeout passes
// (-ETIME). Nothing can attach a fence while the caller waits, so a missing
// fence under WAIT_FOR_SUBMIT only ever times out. An infinite wait that
// nothing can end returns -ETIME too and is counted (`waits_never_ending`).
int Device::SyncobjWaitCommon(const std::vector<sync::Syncobj*>& objs,
                              const std::vector<uint64_t>& points, uint32_t flags,
                              int64_t timeout_ns, uint32_t* first_signaled) {
  std::vector<std::shared_ptr<sync::Fence>> fences;
  bool any_missing = false;
  for (size_t i = 0; i < objs.size(); ++i) {
    std::shared_ptr<sync::Fence> fence = objs[i]->FenceForPoint(points.empty() ? 0 : points[i]);
    if (!fence) {
      if (!(flags & kWaitForSubmit)) return -kEINVAL;
      any_missing = true;
    }
    fences.push_back(std::move(fence));
  }
  auto first = [&]() -> int64_t {
    for (size_t i = 0; i < fences.size(); ++i) {
      if (fences[i] && fences[i]->signalled) return static_cast<int64_t>(i);
    }
    return -1;
  };
  auto done = [&] {
    if (flags & kWaitAll) {
      if (any_missing) return false;
      for (const auto& fc : fences) {
        if (!fc->signalled) return false;
      }
      return true;
    }
    return first() >= 0;
  };
  const uint64_t deadline =
      timeout_ns <= 0
          ? sched_.now_ns()
          : (timeout_ns == INT64_MAX ? sim::Scheduler::kNever : static_cast<uint64_t>(timeout_ns));
  if (sched_.RunUntil(done, deadline)) {
    const int64_t idx = first();
    *first_signaled = static_cast<uint32_t>(idx < 0 ? 0 : idx);
    return 0;
  }
  if (deadline == sim::Scheduler::kNever) ++waits_never_ending_;
  return -kETIME;
}

// Models drm_syncobj_wait_ioctl().
int Device::IoctlSyncobjWait(File& f, void* data) {
  auto* w = static_cast<uapi::DrmSyncobjWait*>(data);
  if (w->flags & ~(kWaitAll | kWaitForSubmit | kWaitDeadline)) return -kEINVAL;
  if (w->count_handles == 0) return -kEINVAL;
  std::vector<sync::Syncobj*> objs;
  if (int ret = SyncobjArrayFind(f, w->handles, w->count_handles, &objs); ret) return ret;
  return SyncobjWaitCommon(objs, {}, w->flags, w->timeout_nsec, &w->first_signaled);
}

// Models drm_syncobj_timeline_wait_ioctl().
int Device::IoctlSyncobjTimelineWait(File& f, void* data) {
  auto* w = static_cast<uapi::DrmSyncobjTimelineWait*>(data);
  if (w->flags & ~(kWaitAll | kWaitForSubmit | kWaitAvailable | kWaitDeadline)) return -kEINVAL;
  if (w->count_handles == 0) return -kEINVAL;
  std::vector<sync::Syncobj*> objs;
  if (int ret = SyncobjArrayFind(f, w->handles, w->count_handles, &objs); ret) return ret;
  std::vector<uint64_t> points;
  if (CopyArrayFromUser(*f.umem_, w->points, w->count_handles, &points) != 0) {
    return -kEFAULT;
  }
  return SyncobjWaitCommon(objs, points, w->flags, w->timeout_nsec, &w->first_signaled);
}

// Models drm_syncobj_reset_ioctl().
int Device::IoctlSyncobjReset(File& f, void* data) {
  auto* a = static_cast<uapi::DrmSyncobjArray*>(data);
  if (a->pad) return -kEINVAL;
  if (a->count_handles == 0) return -kEINVAL;
  std::vector<sync::Syncobj*> objs;
  if (int ret = SyncobjArrayFind(f, a->handles, a->count_handles, &objs); ret) return ret;
  for (sync::Syncobj* o : objs) o->ReplaceFence(nullptr);
  return 0;
}

// Models drm_syncobj_signal_ioctl().
int Device::IoctlSyncobjSignal(File& f, void* data) {
  auto* a = static_cast<uapi::DrmSyncobjArray*>(data);
  if (a->pad) return -kEINVAL;
  if (a->count_handles == 0) return -kEINVAL;
  std::vector<sync::Syncobj*> objs;
  if (int ret = SyncobjArrayFind(f, a->handles, a->count_handles, &objs); ret) return ret;
  for (sync::Syncobj* o : objs) o->ReplaceFence(sync::SignalledStub());
  return 0;
}

// Models drm_syncobj_timeline_signal_ioctl().
int Device::IoctlSyncobjTimelineSignal(File& f, void* data) {
  auto* a = static_cast<uapi::DrmSyncobjTimelineArray*>(data);
  if (a->flags != 0) return -kEINVAL;
  if (a->count_handles == 0) return -kEINVAL;
  std::vector<sync::Syncobj*> objs;
  if (int ret = SyncobjArrayFind(f, a->handles, a->count_handles, &objs); ret) return ret;
  std::vector<uint64_t> points;
  if (CopyArrayFromUser(*f.umem_, a->points, a->count_handles, &points) != 0) {
    return -kEFAULT;
  }
  for (size_t i = 0; i < objs.size(); ++i) {
    if (points[i] == 0) {
      objs[i]->ReplaceFence(sync::SignalledStub());
    } else {
      objs[i]->AddPoint(points[i], sync::SignalledStub());
    }
  }
  return 0;
}

// Models drm_syncobj_query_ioctl().
int Device::IoctlSyncobjQuery(File& f, void* data) {
  auto* a = static_cast<uapi::DrmSyncobjTimelineArray*>(data);
  if (a->flags & ~kDrmSyncobjQueryFlagsLastSubmitted) return -kEINVAL;
  if (a->count_handles == 0) return -kEINVAL;
  std::vector<sync::Syncobj*> objs;
  if (int ret = SyncobjArrayFind(f, a->handles, a->count_handles, &objs); ret) return ret;
  for (size_t i = 0; i < objs.size(); ++i) {
    const uint64_t point = objs[i]->QueryPoint(a->flags & kDrmSyncobjQueryFlagsLastSubmitted);
    if (f.umem_->CopyToUser(a->points + i * sizeof(uint64_t), &point, sizeof(point)) != 0) {
      return -kEFAULT;
    }
  }
  return 0;
}

// Models drm_syncobj_transfer_ioctl() (flags: only WAIT_AVAILABLE-style bits
// are defined for the source fence lookup; pad must be zero).
int Device::IoctlSyncobjTransfer(File& f, void* data) {
  auto* t = static_cast<uapi::DrmSyncobjTransfer*>(data);
  if (t->pad) return -kEINVAL;
  auto src = f.syncobjs_.find(t->src_handle);
  auto dst = f.syncobjs_.find(t->dst_handle);
  if (src == f.syncobjs_.end() || dst == f.syncobjs_.end()) return -kENOENT;
  std::shared_ptr<sync::Fence> fence = src->second->FenceForPoint(t->src_point);
  if (!fence) return -kEINVAL;
  if (t->dst_point) {
    dst->second->AddPoint(t->dst_point, fence);
  } else {
    dst->second->ReplaceFence(fence);
  }
  return 0;
}

// ---------------------------------------------------------------------------
}  // namespace faultlab::dev
