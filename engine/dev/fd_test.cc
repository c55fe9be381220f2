// Descriptors the device hands out (fd_ioctls.cc): a syncobj fd imported on
// another open of the device is the same syncobj; a sync_file carries a
// fence's state and imports into a syncobj; a dma-buf imports on another
// file as the same BO (and as the exporter's own handle on its file), keeps
// the BO alive and maps its pages; each call's errnos as the kernel's; a
// closed descriptor names nothing; and a run of them replays identically.
#include <gtest/gtest.h>

#include <string>

#include "engine/dev/cs_words.h"
#include "engine/dev/test_util.h"
#include "engine/replay/config.h"
#include "engine/replay/recorder.h"
#include "engine/replay/replayer.h"
#include "engine/trace/io.h"
#include "engine/trace/writer.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/ioctls.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {
namespace {

using namespace uapi;  // NOLINT
using testing::TestDevice;

// The kernel's 24-byte requests (with `point`).
const uint32_t kHandleToFd = uapi::Ioctl(IoctlId::kSyncobjHandleToFd).cmd;
const uint32_t kFdToHandle = uapi::Ioctl(IoctlId::kSyncobjFdToHandle).cmd;

struct TwoFiles {
  TestDevice t;
  File* b;
  explicit TwoFiles(events::Observer* observer = nullptr)
      : t(testing::Config(), NodeType::kRender, observer) {
    b = t.dev.Open(NodeType::kRender, &t.mem);
  }

  uint32_t Syncobj(File* f, uint32_t flags = 0) {
    DrmSyncobjCreate c{0, flags};
    EXPECT_EQ(t.Call(kDrmIoctlSyncobjCreate, &c, f), 0);
    return c.handle;
  }
  // HANDLE_TO_FD: the descriptor, or -errno.
  int ToFd(File* f, uint32_t handle, uint32_t flags = 0, uint64_t point = 0) {
    DrmSyncobjHandle h{handle, flags, -1, 0, point};
    const int ret = t.Call(kHandleToFd, &h, f);
    return ret ? ret : h.fd;
  }
  // FD_TO_HANDLE: the handle, or -errno.
  int FromFd(File* f, int fd, uint32_t handle = 0, uint32_t flags = 0, uint64_t point = 0) {
    DrmSyncobjHandle h{handle, flags, fd, 0, point};
    const int ret = t.Call(kFdToHandle, &h, f);
    return ret ? ret : static_cast<int>(h.handle);
  }
  int Signal(File* f, uint32_t handle) {
    DrmSyncobjArray a{t.Place(&handle, 4), 1, 0};
    return t.Call(kDrmIoctlSyncobjSignal, &a, f);
  }
  int Wait(File* f, uint32_t handle, int64_t timeout = INT64_MAX) {
    DrmSyncobjWait w{t.Place(&handle, 4), timeout, 1, 0, 0, 0};
    return t.Call(kDrmIoctlSyncobjWait, &w, f);
  }
  int PrimeToFd(File* f, uint32_t handle, uint32_t flags = kDrmCloexec | kDrmRdwr) {
    DrmPrimeHandle p{handle, flags, -1};
    const int ret = t.Call(kDrmIoctlPrimeHandleToFd, &p, f);
    return ret ? ret : p.fd;
  }
  int PrimeFromFd(File* f, int fd) {
    DrmPrimeHandle p{0, 0, fd};
    const int ret = t.Call(kDrmIoctlPrimeFdToHandle, &p, f);
    return ret ? ret : static_cast<int>(p.handle);
  }
};

TEST(FdTest, ASyncobjFdImportsOnAnotherFileAsTheSameSyncobj) {
  TwoFiles s;
  const uint32_t a = s.Syncobj(s.t.file);
  const int fd = s.ToFd(s.t.file, a);
  ASSERT_GE(fd, Device::kFirstOwnFd) << "the device's own number without a reservation";
  const int b = s.FromFd(s.b, fd);
  ASSERT_GT(b, 0);
  EXPECT_EQ(s.Wait(s.b, b, 0), -kEINVAL) << "no fence yet (not WAIT_FOR_SUBMIT)";
  ASSERT_EQ(s.Signal(s.t.file, a), 0);
  EXPECT_EQ(s.Wait(s.b, b, 0), 0) << "signalled through the other file";
  // Destroying the exporter's handle leaves the fd's syncobj.
  DrmSyncobjDestroy d{a, 0};
  ASSERT_EQ(s.t.Call(kDrmIoctlSyncobjDestroy, &d), 0);
  EXPECT_GT(s.FromFd(s.t.file, fd), 0);
}

TEST(FdTest, SyncobjFdErrnosAreTheKernels) {
  TwoFiles s;
  const uint32_t a = s.Syncobj(s.t.file);
  DrmSyncobjHandle pad{a, 0, -1, 1, 0};
  EXPECT_EQ(s.t.Call(kHandleToFd, &pad), -kEINVAL);
  EXPECT_EQ(s.ToFd(s.t.file, a, 1u << 2), -kEINVAL) << "unknown flag";
  EXPECT_EQ(s.ToFd(s.t.file, 99), -kEINVAL) << "drm_syncobj_handle_to_fd(): no such syncobj";
  EXPECT_EQ(s.ToFd(s.t.file, 99, kDrmSyncobjHandleToFdExportSyncFile), -kENOENT);
  EXPECT_EQ(s.ToFd(s.t.file, a, kDrmSyncobjHandleToFdExportSyncFile), -kEINVAL) << "no fence";
  EXPECT_GT(s.ToFd(s.t.file, a, 0, 5), 0) << "a point without TIMELINE is ignored";
  EXPECT_EQ(s.ToFd(s.t.file, a, kDrmSyncobjHandleToFdTimeline, 5), -kEINVAL)
      << "a point asked of the syncobj's own fd";
  EXPECT_EQ(s.FromFd(s.b, 12345), -kEINVAL) << "not the device's descriptor";
  const uint32_t signalled = s.Syncobj(s.t.file, kDrmSyncobjCreateSignaled);
  const int sync_file = s.ToFd(s.t.file, signalled, kDrmSyncobjHandleToFdExportSyncFile);
  ASSERT_GT(sync_file, 0);
  EXPECT_EQ(s.FromFd(s.b, sync_file), -kEINVAL) << "a sync_file is no syncobj fd";
  const int syncobj_fd = s.ToFd(s.t.file, a);
  EXPECT_EQ(s.FromFd(s.b, syncobj_fd, 1, kDrmSyncobjFdToHandleImportSyncFile), -kEINVAL)
      << "a syncobj fd is no sync_file";
  EXPECT_EQ(s.FromFd(s.b, sync_file, 77, kDrmSyncobjFdToHandleImportSyncFile), -kENOENT);
}

TEST(FdTest, ASyncFileCarriesItsFencesStateAndImportsIntoASyncobj) {
  TwoFiles s;
  // A job's fence: a stream in a BO, signalling `a` at its end.
  TestDevice& t = s.t;
  const uint32_t vm = t.CreateVm(), cs = t.CreateBo(64 << 10), group = t.CreateGroup(vm);
  ASSERT_EQ(t.Bind(vm, {TestDevice::MapOp(cs, 0, 0x1000'0000, 64 << 10)}), 0);
  const uint64_t nop = testing::cs::Op(0, 0);
  t.dev.LookupBo(t.file, cs)->Write(0, &nop, 8);
  const uint32_t a = s.Syncobj(t.file);
  PanthorSyncOp sig{kPanthorSyncOpSignal, a, 0};
  PanthorQueueSubmit qs{0, 8, 0x1000'0000, 0, 0, {sizeof(sig), 1, t.Place(&sig, sizeof(sig))}};
  PanthorGroupSubmit gs{group, 0, {sizeof(qs), 1, t.Place(&qs, sizeof(qs))}};
  ASSERT_EQ(t.Call(kPanthorIoctlGroupSubmit, &gs), 0);
  const int fd = s.ToFd(t.file, a, kDrmSyncobjHandleToFdExportSyncFile);
  ASSERT_GT(fd, 0);
  EXPECT_EQ(Device::SyncFileStatus(*t.dev.FindExport(fd)), 0) << "active: the job has not run";
  // Into a syncobj of the other file: its wait ends with the job.
  const uint32_t b = s.Syncobj(s.b);
  ASSERT_EQ(s.FromFd(s.b, fd, b, kDrmSyncobjFdToHandleImportSyncFile), static_cast<int>(b));
  EXPECT_EQ(s.Wait(s.b, b), 0);
  EXPECT_EQ(Device::SyncFileStatus(*t.dev.FindExport(fd)), 1) << "signalled";
  // As a timeline point of a third syncobj.
  const uint32_t tl = s.Syncobj(s.b);
  ASSERT_EQ(
      s.FromFd(s.b, fd, tl, kDrmSyncobjFdToHandleImportSyncFile | kDrmSyncobjFdToHandleTimeline, 3),
      static_cast<int>(tl));
  uint64_t point = 0;
  DrmSyncobjTimelineArray q{t.Place(&tl, 4), t.Place(&point, 8), 1, 0};
  ASSERT_EQ(t.Call(kDrmIoctlSyncobjQuery, &q, s.b), 0);
  t.mem.Read(q.points, &point, 8);
  EXPECT_EQ(point, 3u);
  // A fence that ended in an error: the sync_file says its -errno.
  const uint64_t invalid = testing::cs::Op(0x7f, 0);
  t.dev.LookupBo(t.file, cs)->Write(0, &invalid, 8);
  const uint32_t bad = s.Syncobj(t.file);
  PanthorSyncOp bad_sig{kPanthorSyncOpSignal, bad, 0};
  qs.syncs = {sizeof(bad_sig), 1, t.Place(&bad_sig, sizeof(bad_sig))};
  gs.queue_submits.array = t.Place(&qs, sizeof(qs));
  ASSERT_EQ(t.Call(kPanthorIoctlGroupSubmit, &gs), 0);
  const int bad_fd = s.ToFd(t.file, bad, kDrmSyncobjHandleToFdExportSyncFile);
  ASSERT_GT(bad_fd, 0);
  t.dev.RunAll();
  EXPECT_EQ(Device::SyncFileStatus(*t.dev.FindExport(bad_fd)), -kEINVAL)
      << "an unknown instruction: the queue's fence ends -EINVAL";
  // A closed descriptor names nothing.
  t.dev.CloseExport(fd);
  EXPECT_EQ(t.dev.FindExport(fd), nullptr);
  EXPECT_EQ(s.FromFd(s.b, fd, b, kDrmSyncobjFdToHandleImportSyncFile), -kEINVAL);
}

TEST(FdTest, ADmaBufIsTheSameBoOnEveryFile) {
  TwoFiles s;
  TestDevice& t = s.t;
  const uint32_t bo = t.CreateBo(64 << 10, kPanthorBoAllocOnFault, 4096);
  EXPECT_EQ(s.PrimeToFd(t.file, bo, 1u << 3), -kEINVAL) << "only DRM_CLOEXEC | DRM_RDWR";
  EXPECT_EQ(s.PrimeToFd(t.file, 42), -kENOENT);
  const uint32_t vm = t.CreateVm();
  EXPECT_EQ(s.PrimeToFd(t.file, t.CreateBo(4096, 0, 0, vm)), -kEINVAL)
      << "panthor cannot export a BO private to a VM";
  const int fd = s.PrimeToFd(t.file, bo);
  ASSERT_GT(fd, 0);
  EXPECT_EQ(s.PrimeFromFd(t.file, fd), static_cast<int>(bo)) << "the exporter's own handle";
  const int hb = s.PrimeFromFd(s.b, fd);
  ASSERT_GT(hb, 0);
  EXPECT_EQ(t.dev.LookupBo(s.b, hb), t.dev.LookupBo(t.file, bo));
  EXPECT_EQ(s.PrimeFromFd(s.b, fd), hb) << "imported twice: one handle";
  const uint32_t so = s.Syncobj(t.file);
  EXPECT_EQ(s.PrimeFromFd(s.b, s.ToFd(t.file, so)), -kEINVAL) << "a syncobj fd is no dma-buf";
  // Mapping the dma-buf populates the alloc-on-fault BO, as a CPU map does.
  EXPECT_EQ(t.dev.MmapExport(fd, 0, 64 << 10, /*shared=*/false), -kEINVAL);
  EXPECT_EQ(t.dev.MmapExport(fd, 0, 128 << 10, true), -kEINVAL) << "past its end";
  const uint64_t before = t.dev.memory().used_pages();
  EXPECT_EQ(t.dev.MmapExport(fd, 0, 64 << 10, true), 0);
  EXPECT_EQ(t.dev.memory().used_pages() - before, 16u);
  // Both handles closed, the descriptor still holds the BO.
  DrmGemClose c1{bo, 0}, c2{static_cast<uint32_t>(hb), 0};
  ASSERT_EQ(t.Call(kDrmIoctlGemClose, &c1), 0);
  ASSERT_EQ(t.Call(kDrmIoctlGemClose, &c2, s.b), 0);
  EXPECT_EQ(t.dev.live_bos(), 2u) << "the dma-buf's BO and the VM's private one";
  t.dev.CloseExport(fd);
  EXPECT_EQ(t.dev.live_bos(), 1u);
}

TEST(FdTest, ARunOfDescriptorsReplaysIdentically) {
  std::string bytes;
  {
    DeviceConfig cfg = testing::Config();
    trace::StringSink sink(&bytes);
    trace::TraceWriter writer(&sink,
                              replay::MakeHeader(cfg, "fd_test", "test", std::string(16, 'f'), 0));
    replay::Recorder rec(&writer);
    TwoFiles s(&rec);
    // As a host does: the real descriptor's number reserved before the call.
    const uint32_t a = s.Syncobj(s.t.file, kDrmSyncobjCreateSignaled);
    s.t.dev.ReserveExportFd(7);
    ASSERT_EQ(s.ToFd(s.t.file, a), 7);
    ASSERT_GT(s.FromFd(s.b, 7), 0);
    s.t.dev.ReserveExportFd(8);
    ASSERT_EQ(s.ToFd(s.t.file, a, kDrmSyncobjHandleToFdExportSyncFile), 8);
    const uint32_t bo = s.t.CreateBo(64 << 10, kPanthorBoAllocOnFault, 4096);
    s.t.dev.ReserveExportFd(9);
    ASSERT_EQ(s.PrimeToFd(s.t.file, bo), 9);
    ASSERT_EQ(s.t.dev.MmapExport(9, 0, 64 << 10, true), 0);
    ASSERT_GT(s.PrimeFromFd(s.b, 9), 0);
    s.t.dev.CloseExport(7);
    s.t.dev.ReserveExportFd(7);  // the number reused
    ASSERT_EQ(s.PrimeToFd(s.t.file, bo), 7);
    EXPECT_EQ(s.FromFd(s.b, 7), -kEINVAL) << "7 is a dma-buf now";
    s.t.dev.RunAll();
    s.t.dev.EmitMarker(trace::MARKER_NOTE, 0, "end");
    s.t.dev.set_observer(nullptr);
    ASSERT_TRUE(rec.Finish().ok());
  }
  const replay::ReplayResult r = replay::Replay(
      [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
        return std::make_unique<trace::MemorySource>(bytes);
      },
      "fd", {});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.outcome, replay::ReplayOutcome::kIdentical)
      << (r.divergences.empty() ? "" : r.divergences[0].expected + "\n vs " + r.divergences[0].got);
  EXPECT_EQ(r.device.unmodelled_ioctls, 0u);
}

}  // namespace
}  // namespace faultlab::dev
