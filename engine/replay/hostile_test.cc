// Hostile traces (docs/security.md): well-formed bytes that say what no
// program or kernel could have done. A replay refuses them as damaged input
// (DATA_LOSS naming the file, chunk offset and event) in bounded time and
// memory, or replays what the kernel would have answered — never crashes,
// never allocates what a count claims.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <functional>

#include "engine/replay/recorder.h"
#include "engine/replay/replayer.h"
#include "engine/replay/validate.h"
#include "engine/trace/io.h"
#include "engine/trace/reader.h"
#include "engine/trace/writer.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/errno.h"
#include "engine/uapi/ioctls.h"

namespace faultlab::replay {
namespace {

std::string Record() {
  dev::DeviceConfig cfg;
  cfg.profile = *profiles::LoadProfile("g610");
  cfg.seed = 3;
  absl::StatusOr<Recording> r =
      RecordWorkload(cfg, {"compute", 3, 1}, "test", std::string(16, 'h'));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->bytes : "";
}

// The trace with `edit` applied to each event (true: it changed one);
// `arena` owns the bytes the edits put in.
std::string Rewrite(const std::string& bytes,
                    const std::function<bool(trace::Event*, trace::EventArena*)>& edit,
                    int* edited) {
  trace::MemorySource src(bytes);
  trace::TraceReader reader(&src, "in");
  EXPECT_TRUE(reader.Open().ok());
  std::string out;
  trace::StringSink sink(&out);
  trace::TraceWriter writer(&sink, reader.header());
  trace::EventArena arena;
  trace::Event e;
  *edited = 0;
  while (reader.Next(&e)) {
    trace::Event copy = arena.Own(e);
    if (edit(&copy, &arena)) ++*edited;
    EXPECT_TRUE(writer.Append(copy).ok());
  }
  EXPECT_TRUE(writer.Finish().ok());
  return out;
}

ReplayResult ReplayBytes(const std::string& bytes) {
  return Replay(
      [&]() -> absl::StatusOr<std::unique_ptr<trace::ByteSource>> {
        return std::make_unique<trace::MemorySource>(bytes);
      },
      "hostile.fltrace", {});
}

bool IsWait(const trace::Event& e) {
  const uapi::IoctlDesc* d =
      e.kind == trace::EVENT_IOCTL ? uapi::FindIoctl(e.ioctl.request) : nullptr;
  return d && d->id == uapi::IoctlId::kSyncobjWait && e.ioctl.result == 0 &&
         e.ioctl.arg_in.size() >= sizeof(uapi::DrmSyncobjWait);
}

// The first successful SYNCOBJ_WAIT, its handle count set to `count`.
std::string WithWaitCount(const std::string& bytes, uint32_t count, int result, int* edited) {
  bool done = false;
  return Rewrite(
      bytes,
      [&](trace::Event* e, trace::EventArena* arena) {
        if (done || !IsWait(*e)) return false;
        done = true;
        std::string arg(e->ioctl.arg_in);
        std::memcpy(arg.data() + offsetof(uapi::DrmSyncobjWait, count_handles), &count, 4);
        e->ioctl.arg_in = arena->Keep(arg);
        e->ioctl.result = result;
        return true;
      },
      edited);
}

TEST(HostileTraceTest, ACountPastTheRecordedArrayOfASuccessIsDamage) {
  const std::string good = Record();
  int edited = 0;
  const std::string bad = WithWaitCount(good, 0xffffffffu, 0, &edited);
  ASSERT_EQ(edited, 1) << "the workload waits on a syncobj";
  ReplayResult r = ReplayBytes(bad);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss) << r.status;
  EXPECT_NE(r.status.message().find("hostile.fltrace: offset "), std::string::npos) << r.status;
  EXPECT_NE(r.status.message().find("SYNCOBJ_WAIT: its argument points at more memory"),
            std::string::npos)
      << r.status;
}

TEST(HostileTraceTest, AHugeCountTheKernelRefusedReplaysAsTheKernelRefusesIt) {
  // memdup_array_user() of 2^32 - 1 handles is past KMALLOC_MAX_SIZE: the
  // kernel answers -ENOMEM without reading them, and so does the twin.
  int edited = 0;
  const std::string bytes = WithWaitCount(Record(), 0xffffffffu, -uapi::kENOMEM, &edited);
  ASSERT_EQ(edited, 1);
  ReplayResult r = ReplayBytes(bytes);
  ASSERT_TRUE(r.status.ok()) << r.status;
  // The wait no longer waited: what follows may differ, but nothing blew up.
  EXPECT_NE(r.outcome, ReplayOutcome::kError);
}

TEST(HostileTraceTest, CopiesOutsideUserMemoryAndOversizedArgumentsAreDamage) {
  const std::string good = Record();
  for (int kind = 0; kind < 3; ++kind) {
    bool done = false;
    int edited = 0;
    const std::string bad = Rewrite(
        good,
        [&](trace::Event* e, trace::EventArena* arena) {
          if (done || e->kind != trace::EVENT_IOCTL) return false;
          done = true;
          if (kind == 0) {  // an argument no ioctl's size field allows
            e->ioctl.arg_in = arena->Keep(std::string(70000, '\0'));
          } else {  // a copy that wraps around, or lies past user memory
            e->ioctl.user_in.push_back(
                {kind == 1 ? ~uint64_t{0} - 100 : kUserTop, arena->Keep(std::string(4096, 'x'))});
          }
          return true;
        },
        &edited);
    ASSERT_EQ(edited, 1);
    ReplayResult r = ReplayBytes(bad);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss) << kind << ": " << r.status;
  }
}

TEST(HostileTraceTest, ACopyWhereTheReplayOnceKeptItsArgumentsIsUserMemoryLikeAnyOther) {
  // 0x7ff0'0000'0000 is an ordinary x86-64 mmap address; the replay's own
  // scratch lies above user memory, so a recording may name it. (The extra
  // copy is not one the kernel made: the replay diverges, and ends.)
  const std::string good = Record();
  bool done = false;
  int edited = 0;
  const std::string bytes = Rewrite(
      good,
      [&](trace::Event* e, trace::EventArena* arena) {
        if (done || e->kind != trace::EVENT_IOCTL || e->ioctl.result != 0) return false;
        done = true;
        e->ioctl.user_in.push_back({0x7ff0'0000'0000ULL, arena->Keep(std::string(64, 'y'))});
        return true;
      },
      &edited);
  ASSERT_EQ(edited, 1);
  ReplayResult r = ReplayBytes(bytes);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.outcome, ReplayOutcome::kDiverged);
}

}  // namespace
}  // namespace faultlab::replay
