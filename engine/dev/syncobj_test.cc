#include <gtest/gtest.h>

#include "engine/dev/test_util.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"

namespace faultlab::dev {
namespace {

using namespace uapi;  // NOLINT
using testing::TestDevice;

uint32_t Create(TestDevice& t, uint32_t flags = 0) {
  DrmSyncobjCreate c{0, flags};
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjCreate, &c), 0);
  return c.handle;
}

TEST(SyncobjTest, CreateDestroyHandles) {
  TestDevice t;
  EXPECT_EQ(Create(t), 1u);
  EXPECT_EQ(Create(t, kDrmSyncobjCreateSignaled), 2u);
  DrmSyncobjCreate bad{0, 2};
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjCreate, &bad), -kEINVAL);
  DrmSyncobjDestroy d{1, 1};
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjDestroy, &d), -kEINVAL) << "pad";
  d = {1, 0};
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjDestroy, &d), 0);
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjDestroy, &d), -kEINVAL) << "unknown handle";
  EXPECT_EQ(Create(t), 1u) << "lowest free handle";
}

TEST(SyncobjTest, ArrayIoctlsCheckPadCountHandlesAndPointers) {
  TestDevice t;
  const uint32_t a = Create(t), b = Create(t);
  const uint32_t handles[2] = {a, b};
  const uint64_t hp = t.Place(handles, sizeof(handles));
  for (uint32_t req : {kDrmIoctlSyncobjReset, kDrmIoctlSyncobjSignal}) {
    DrmSyncobjArray arr{hp, 2, 1};
    EXPECT_EQ(t.Call(req, &arr), -kEINVAL) << "pad";
    arr = {hp, 0, 0};
    EXPECT_EQ(t.Call(req, &arr), -kEINVAL) << "count 0";
    arr = {0x10, 2, 0};
    EXPECT_EQ(t.Call(req, &arr), -kEFAULT);
    const uint32_t unknown[2] = {a, 99};
    arr = {t.Place(unknown, sizeof(unknown)), 2, 0};
    EXPECT_EQ(t.Call(req, &arr), -kENOENT);
    arr = {hp, 2, 0};
    EXPECT_EQ(t.Call(req, &arr), 0);
  }
}

TEST(SyncobjTest, WaitOnSignalledUnsignalledAndMissingFences) {
  TestDevice t;
  const uint32_t none = Create(t);
  const uint32_t done = Create(t, kDrmSyncobjCreateSignaled);
  const uint32_t both[2] = {none, done};
  DrmSyncobjWait w{t.Place(both, sizeof(both)), 0, 2, 0, 0, 0};
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjWait, &w), -kEINVAL) << "no fence, no WAIT_FOR_SUBMIT";
  w.flags = 2;  // WAIT_FOR_SUBMIT: any of them
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjWait, &w), 0);
  EXPECT_EQ(w.first_signaled, 1u);
  w.flags = 2 | 1;  // ... and all: nothing can submit, so it times out
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjWait, &w), -kETIME);
  w.flags = 1u << 7;
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjWait, &w), -kEINVAL) << "unknown flag";
}

TEST(SyncobjTest, TimelineSignalQueryAndTransfer) {
  TestDevice t;
  const uint32_t tl = Create(t);
  const uint32_t bin = Create(t);
  const uint32_t h[1] = {tl};
  const uint64_t points_in[1] = {5};
  DrmSyncobjTimelineArray s{t.Place(h, 4), t.Place(points_in, 8), 1, 0};
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjTimelineSignal, &s), 0);
  s.flags = 1;
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjTimelineSignal, &s), -kEINVAL);
  const uint64_t out = t.mem.Alloc(8);
  DrmSyncobjTimelineArray q{t.Place(h, 4), out, 1, 0};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjQuery, &q), 0);
  EXPECT_EQ(t.mem.Get<uint64_t>(out), 5u);
  // A lower point does not move the timeline back.
  const uint64_t lower[1] = {3};
  s = {t.Place(h, 4), t.Place(lower, 8), 1, 0};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjTimelineSignal, &s), 0);
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjQuery, &q), 0);
  EXPECT_EQ(t.mem.Get<uint64_t>(out), 5u);
  q.points = 0x10;
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjQuery, &q), -kEFAULT);
  q.points = out;
  q.flags = 2;
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjQuery, &q), -kEINVAL);
  // Timeline wait for point 5 (there) and 9 (not yet).
  const uint64_t p5[1] = {5}, p9[1] = {9};
  DrmSyncobjTimelineWait w{t.Place(h, 4), t.Place(p5, 8), 0, 1, 0, 0, 0};
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjTimelineWait, &w), 0);
  w.points = t.Place(p9, 8);
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjTimelineWait, &w), -kEINVAL);
  w.flags = 2;
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjTimelineWait, &w), -kETIME);
  // Transfer point 5 into the binary syncobj, then query the binary: no chain.
  DrmSyncobjTransfer x{tl, bin, 5, 0, 0, 0};
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjTransfer, &x), 0);
  const uint32_t hb[1] = {bin};
  DrmSyncobjWait wb{t.Place(hb, 4), 0, 1, 0, 0, 0};
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjWait, &wb), 0);
  x = {tl, 77, 5, 0, 0, 0};
  EXPECT_EQ(t.Call(kDrmIoctlSyncobjTransfer, &x), -kENOENT);
  // Reset drops the chain.
  DrmSyncobjArray r{t.Place(h, 4), 1, 0};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjReset, &r), 0);
  q = {t.Place(h, 4), out, 1, 0};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjQuery, &q), 0);
  EXPECT_EQ(t.mem.Get<uint64_t>(out), 0u);
}

}  // namespace
}  // namespace faultlab::dev

namespace faultlab::dev {
namespace {

TEST(SyncobjTest, ATimelinePointSignalsOnlyOnceEveryEarlierPointHas) {
  // dma_fence_chain: panvk signals one timeline point a subqueue and waits
  // on the last; a fast last subqueue must not end the wait early.
  sync::Syncobj s;
  auto slow = std::make_shared<sync::Fence>(), fast = std::make_shared<sync::Fence>();
  s.AddPoint(1, slow);
  s.AddPoint(2, fast);
  fast->Signal(0);
  EXPECT_FALSE(s.FenceForPoint(2)->signalled) << "point 1 is still running";
  EXPECT_FALSE(s.fence()->signalled);
  EXPECT_EQ(s.QueryPoint(false), 0u);
  slow->Signal(-uapi::kECANCELED);
  EXPECT_TRUE(s.FenceForPoint(2)->signalled);
  EXPECT_EQ(s.FenceForPoint(2)->error, 0) << "a point's error is its own fence's";
  EXPECT_EQ(s.FenceForPoint(1)->error, -uapi::kECANCELED);
  EXPECT_EQ(s.QueryPoint(false), 2u);
  // A point added after the earlier ones signalled is its fence itself.
  auto late = std::make_shared<sync::Fence>();
  s.AddPoint(3, late);
  EXPECT_EQ(s.fence(), late);
}

}  // namespace
}  // namespace faultlab::dev
