// The device answers every row of the ioctl table as a kernel of its
// variant's driver version would: a handler for each ioctl up to 1.6 (the
// series' variants) or 1.7 (mainline) — every DRM core one too — and
// -EINVAL (unknown) for panthor's newer ones.
#include <gtest/gtest.h>

#include <set>

#include "engine/dev/test_util.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/ioctls.h"

namespace faultlab::dev {
namespace {

using testing::TestDevice;
using uapi::IoctlId;

TEST(HandlersTest, EveryIoctlOfTheVariantsVersionHasAHandler) {
  for (Variant v : kAllVariants) {
    for (const uapi::IoctlDesc& d : uapi::AllIoctls()) {
      const bool newer = d.panthor() && !(d.since <= uapi::DriverVersion{1, DriverMinor(v)});
      EXPECT_EQ(Device::Models(d.cmd, v), !newer) << d.name << " on " << VariantName(v);
    }
  }
  EXPECT_TRUE(Device::Models(uapi::kPanthorIoctlBoSetLabel, Variant::kSeriesFixed));
  EXPECT_FALSE(Device::Models(uapi::kPanthorIoctlBoSync, Variant::kSeriesFixed));
  EXPECT_TRUE(Device::Models(uapi::kPanthorIoctlBoSync, Variant::kMainline));
}

TEST(HandlersTest, WhatTheTwinDoesNotModelIsAnsweredAsTheKernelWould) {
  TestDevice t;
  uint64_t scratch = t.mem.Alloc(64);
  // A newer panthor ioctl: unknown to a 1.6 driver, before any copy.
  EXPECT_EQ(t.dev.Ioctl(t.file, uapi::kPanthorIoctlBoSync, 0), -uapi::kEINVAL);
  EXPECT_EQ(t.dev.Ioctl(t.file, uapi::kPanthorIoctlBoQueryInfo, scratch), -uapi::kEINVAL);
  // Today's 40-byte SYNCOBJ_WAIT is the same ioctl as libdrm's 32-byte one.
  EXPECT_EQ(t.dev.Ioctl(t.file, uapi::Ioctl(IoctlId::kSyncobjWait).cmd, scratch), -uapi::kEINVAL)
      << "count_handles 0, the kernel's EINVAL: the handler ran";
}

}  // namespace
}  // namespace faultlab::dev
