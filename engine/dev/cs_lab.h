// Test set-ups for command streams on the twin: a VM with a CS buffer, a
// 2 MiB alloc-on-fault buffer and a plain one mapped, and a group to run
// streams on (Lab); a second group with two queues (SyncLab).
//
//   Lab lab;
//   int waited = -1;
//   lab.Run({cs::Move48(2, kPlainVa), cs::Move32(10, 7), cs::Store(10, 2, 1, 0)}, &waited);
#ifndef FAULTLAB_ENGINE_DEV_CS_LAB_H_
#define FAULTLAB_ENGINE_DEV_CS_LAB_H_

#include <gtest/gtest.h>

#include <vector>

#include "engine/dev/cs_words.h"
#include "engine/dev/test_util.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev::testing {

constexpr uint64_t K = 1024, M = 1024 * 1024;
constexpr uint64_t kCs = 0x1000'0000, kAof = 0x2000'0000, kPlainVa = 0x3000'0000;

struct Lab {
  TestDevice t;
  uint32_t vm = 0, cs_bo = 0, aof = 0, plain = 0, group = 0;
  Lab() {
    vm = t.CreateVm();
    cs_bo = t.CreateBo(64 * K);
    aof = t.CreateBo(2 * M, uapi::kPanthorBoAllocOnFault, 64 * K);
    plain = t.CreateBo(64 * K);
    EXPECT_EQ(t.Bind(vm, {TestDevice::MapOp(cs_bo, 0, kCs, 64 * K),
                          TestDevice::MapOp(aof, 0, kAof, 2 * M),
                          TestDevice::MapOp(plain, 0, kPlainVa, 64 * K)}),
              0);
    group = t.CreateGroup(vm);
    EXPECT_NE(group, 0u);
  }
  // Writes the stream into the CS BO (the CPU's store) and submits it;
  // returns the GROUP_SUBMIT result and waits on its syncobj.
  int Run(const std::vector<uint64_t>& words, int* wait = nullptr) {
    t.dev.LookupBo(t.file, cs_bo)->Write(0, words.data(), words.size() * 8);
    uapi::DrmSyncobjCreate c{0, 0};
    EXPECT_EQ(t.Call(uapi::kDrmIoctlSyncobjCreate, &c), 0);
    uapi::PanthorSyncOp sig{uapi::kPanthorSyncOpSignal, c.handle, 0};
    // An empty stream is a sync point: no address either (panthor_job_create()).
    uapi::PanthorQueueSubmit qs{
        0, static_cast<uint32_t>(words.size() * 8),     words.empty() ? 0 : kCs, 0,
        0, {sizeof(sig), 1, t.Place(&sig, sizeof(sig))}};
    uapi::PanthorGroupSubmit gs{group, 0, {sizeof(qs), 1, t.Place(&qs, sizeof(qs))}};
    const int ret = t.Call(uapi::kPanthorIoctlGroupSubmit, &gs);
    uapi::DrmSyncobjWait w{t.Place(&c.handle, 4), INT64_MAX, 1, 0, 0, 0};
    const int waited = t.Call(uapi::kDrmIoctlSyncobjWait, &w);
    if (wait) *wait = waited;
    return ret;
  }
  uint32_t Word(uint32_t bo, uint64_t offset) {
    uint32_t v = 0;
    t.dev.LookupBo(t.file, bo)->Read(offset, &v, 4);
    return v;
  }
  uint32_t FatalQueues() { return t.dev.LookupGroup(t.file, group)->fatal_queues; }
};

// Two queues: queue 0 blocks on SYNC_WAIT32 until a flag in the plain BO is
// > 0, then stores; queue 1 (or the CPU) sets the flag.
struct SyncLab {
  Lab lab;
  uint32_t group2 = 0;
  SyncLab() {
    group2 = lab.t.CreateGroup(lab.vm, 2);
    EXPECT_NE(group2, 0u);
  }
  // Writes `words` at `at` in the CS BO and submits them to `queue`,
  // signalling a new syncobj (returned).
  uint32_t Submit(uint32_t queue, uint64_t at, const std::vector<uint64_t>& words) {
    lab.t.dev.LookupBo(lab.t.file, lab.cs_bo)->Write(at, words.data(), words.size() * 8);
    uapi::DrmSyncobjCreate c{0, 0};
    EXPECT_EQ(lab.t.Call(uapi::kDrmIoctlSyncobjCreate, &c), 0);
    uapi::PanthorSyncOp sig{uapi::kPanthorSyncOpSignal, c.handle, 0};
    uapi::PanthorQueueSubmit qs{
        queue, static_cast<uint32_t>(words.size() * 8),         words.empty() ? 0 : kCs + at, 0,
        0,     {sizeof(sig), 1, lab.t.Place(&sig, sizeof(sig))}};
    uapi::PanthorGroupSubmit gs{group2, 0, {sizeof(qs), 1, lab.t.Place(&qs, sizeof(qs))}};
    EXPECT_EQ(lab.t.Call(uapi::kPanthorIoctlGroupSubmit, &gs), 0);
    return c.handle;
  }
  int Wait(uint32_t syncobj) {
    uapi::DrmSyncobjWait w{lab.t.Place(&syncobj, 4), INT64_MAX, 1, 0, 0, 0};
    return lab.t.Call(uapi::kDrmIoctlSyncobjWait, &w);
  }
  std::vector<uint64_t> Waiter() {
    return {cs::Move48(2, kPlainVa + 0x100), cs::Move32(10, 0),     cs::SyncWait32(10, 2, true),
            cs::Move48(4, kPlainVa + 0x200), cs::Move32(11, 0xd0e), cs::Store(11, 4, 1, 0)};
  }
  uint32_t Word(uint64_t off) { return lab.Word(lab.plain, off); }
};

}  // namespace faultlab::dev::testing

#endif  // FAULTLAB_ENGINE_DEV_CS_LAB_H_
