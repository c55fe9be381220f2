// Passthrough capture (capture.h) without a kernel: guarded reads of bad
// pointers, the uAPI layouts' nested arrays (hostile counts included), and a
// call recorded through Begin/End into a real trace file.
#include "agents/shim/capture.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"

namespace faultlab::shim {
namespace {

using namespace faultlab::uapi;  // NOLINT

template <typename T>
std::string Bytes(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}

TEST(CaptureTest, GuardedReadsOfUnmappedMemoryFailInsteadOfCrashing) {
  InstallReadGuard();
  void* page = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  memset(page, 0x5a, 8192);
  munmap(static_cast<char*>(page) + 4096, 4096);  // the second page is gone
  char buf[64];
  EXPECT_TRUE(SafeRead(buf, reinterpret_cast<uint64_t>(page), sizeof(buf)));
  EXPECT_EQ(buf[0], 0x5a);
  EXPECT_FALSE(
      SafeRead(buf, reinterpret_cast<uint64_t>(page) + 4096 - 8, 16));  // straddles into the hole
  EXPECT_FALSE(SafeRead(buf, 0, 8));
  EXPECT_FALSE(SafeRead(buf, 0xdead0000ULL, 8));
  for (int i = 0; i < 1000; ++i)
    ASSERT_FALSE(SafeRead(buf, 0x10, 4));  // and again: the guard stays armed
  EXPECT_TRUE(SafeRead(buf, reinterpret_cast<uint64_t>(page), 8));
  int same = -1;
  EXPECT_TRUE(SafeCompare(reinterpret_cast<uint64_t>(page), buf, 8, &same));
  EXPECT_EQ(same, 1);
  buf[3] ^= 1;
  EXPECT_TRUE(SafeCompare(reinterpret_cast<uint64_t>(page), buf, 8, &same));
  EXPECT_EQ(same, 0);
  EXPECT_FALSE(SafeCompare(reinterpret_cast<uint64_t>(page) + 4096, buf, 8, &same));  // the hole
  munmap(page, 4096);
}

TEST(CaptureTest, VmBindOpsAndTheirSyncsAreNestedInputs) {
  InstallReadGuard();
  PanthorSyncOp syncs[2] = {};
  PanthorVmBindOp ops[2] = {};
  ops[1].syncs = PanthorObjArray{sizeof(PanthorSyncOp), 2, reinterpret_cast<uint64_t>(syncs)};
  PanthorVmBind b{};
  b.ops = PanthorObjArray{sizeof(PanthorVmBindOp), 2, reinterpret_cast<uint64_t>(ops)};
  std::vector<UserRange> in;
  NestedIn(kPanthorIoctlVmBind, Bytes(b), &in);
  ASSERT_EQ(in.size(), 2u);
  EXPECT_EQ(in[0].address, reinterpret_cast<uint64_t>(ops));
  EXPECT_EQ(in[0].length, 2 * sizeof(PanthorVmBindOp));
  EXPECT_EQ(in[1].address, reinterpret_cast<uint64_t>(syncs));
  EXPECT_EQ(in[1].length, 2 * sizeof(PanthorSyncOp));
  // A hostile count is not followed (the kernel refuses it long before).
  b.ops.count = 0xffffffff;
  in.clear();
  NestedIn(kPanthorIoctlVmBind, Bytes(b), &in);
  EXPECT_TRUE(in.empty());
  // An unreadable ops array: the array's range is named, no syncs are.
  b.ops = PanthorObjArray{sizeof(PanthorVmBindOp), 2, 0x10};
  in.clear();
  NestedIn(kPanthorIoctlVmBind, Bytes(b), &in);
  ASSERT_EQ(in.size(), 1u);
}

TEST(CaptureTest, VersionStringsAreCopiedAsTheKernelCopiesThem) {
  char name[4], date[16];
  DrmVersion in{};
  in.name_len = sizeof(name);
  in.name = reinterpret_cast<uint64_t>(name);
  in.date_len = sizeof(date);
  in.date = reinterpret_cast<uint64_t>(date);
  DrmVersion out = in;
  out.name_len = 7;  // "panthor": only 4 fit (drm_copy_field)
  out.date_len = 8;
  std::vector<UserRange> r;
  NestedOut(kDrmIoctlVersion, Bytes(in), Bytes(out), 0, &r);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].length, 4u);
  EXPECT_EQ(r[1].length, 8u);
  r.clear();
  NestedOut(kDrmIoctlVersion, Bytes(in), Bytes(out), -14,
            &r);  // a failed call wrote nothing we trust
  EXPECT_TRUE(r.empty());
}

TEST(CaptureTest, ACallIsRecordedWithItsArraysOutputsAndTiming) {
  const std::string path = ::testing::TempDir() + "/capture.fltrace";
  auto sink = trace::FileSink::Open(path);
  ASSERT_TRUE(sink.ok());
  trace::TraceHeader h;
  h.set_capture_source(trace::CAPTURE_SOURCE_BOARD);
  Capture cap(std::move(*sink), h);
  const uint32_t file = cap.Open(false);
  EXPECT_EQ(file, 1u);

  uint32_t handles[3] = {4, 5, 6};
  DrmSyncobjWait w{};
  w.handles = reinterpret_cast<uint64_t>(handles);
  w.count_handles = 3;
  Capture::Call call;
  cap.Begin(&call, file, kDrmIoctlSyncobjWait, &w);
  w.first_signaled = 2;  // what the kernel wrote back
  cap.End(&call, &w, 0);
  cap.Begin(&call, file, kDrmIoctlVersion, reinterpret_cast<void*>(0x10));  // a wild argument
  cap.End(&call, reinterpret_cast<void*>(0x10), -EFAULT);
  cap.Close(file);
  ASSERT_TRUE(cap.Finish().ok());

  auto src = trace::FileSource::Open(path);
  ASSERT_TRUE(src.ok());
  trace::TraceReader reader(src->get(), path);
  ASSERT_TRUE(reader.Open().ok());
  EXPECT_EQ(reader.header().capture_source(), trace::CAPTURE_SOURCE_BOARD);
  trace::Event e;
  std::vector<trace::Event> events;
  std::vector<std::string> labels;
  while (reader.Next(&e)) {
    if (e.kind == trace::EVENT_MARKER) labels.emplace_back(e.marker.label);
    if (e.kind == trace::EVENT_FILE) {
      labels.push_back(absl::StrCat(e.file_op.close ? "close:" : "open:", e.file_op.file,
                                    e.file_op.node == trace::NODE_RENDER ? ":render" : ":primary"));
    }
    if (e.kind == trace::EVENT_IOCTL) {
      if (e.ioctl.request == kDrmIoctlSyncobjWait) {
        ASSERT_EQ(e.ioctl.user_in.size(), 1u);
        EXPECT_EQ(e.ioctl.user_in[0].address, reinterpret_cast<uint64_t>(handles));
        EXPECT_EQ(e.ioctl.user_in[0].data, absl::string_view(reinterpret_cast<char*>(handles), 12));
        DrmSyncobjWait got;
        ASSERT_EQ(e.ioctl.arg_out.size(), sizeof(got));
        memcpy(&got, e.ioctl.arg_out.data(), sizeof(got));
        EXPECT_EQ(got.first_signaled, 2u);
        EXPECT_EQ(e.ioctl.result, 0);
        EXPECT_GT(e.ioctl.recorded_ns, 0u);
      } else {
        EXPECT_EQ(e.ioctl.request, kDrmIoctlVersion);
        EXPECT_TRUE(e.ioctl.arg_in.empty());  // the copy-in faulted, as the kernel's would
        EXPECT_EQ(e.ioctl.result, -EFAULT);
      }
      events.push_back(e);
    }
  }
  ASSERT_TRUE(reader.status().ok()) << reader.status();
  EXPECT_TRUE(reader.complete());
  EXPECT_EQ(events.size(), 2u);
  EXPECT_EQ(labels, (std::vector<std::string>{"open:1:render", "close:1:render", "end"}));
}

}  // namespace
}  // namespace faultlab::shim
