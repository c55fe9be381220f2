// Draws, the tiler heap and fragment passes on the twin: a draw's polygon
// list fills the heap's initial chunk and grows the heap through the
// kernel; FINISH_TILING writes the pass's chunks into the tiler context; a
// fragment pass writes its render target (faulting it in) and FINISH_FRAGMENT
// hands the chunks back, so the next pass grows nothing; a tiler OOM runs
// the exception handler (incremental rendering) and the draw finishes after
// it; with no handler the draw waits for another queue's fragment pass, or,
// with none to come, times out; a draw with no vertex/tiler work counted is
// refused by the kernel; the polygon-list function.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/dev/cs_lab.h"
#include "engine/gpu/work.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {
namespace {

using namespace testing::cs;  // NOLINT: the encoders read best unqualified
using namespace uapi;         // NOLINT
using testing::kAof;
using testing::kCs;
using testing::kPlainVa;
using testing::SyncLab;

constexpr uint64_t K = 1024;
constexpr uint64_t kChunk = 256 * K;
constexpr uint64_t kRoom = kChunk - 64;  // a chunk's header is 64 bytes
constexpr uint64_t kSpd = kPlainVa + 0x1300, kTiler = kPlainVa + 0x3000, kFbd = kPlainVa + 0x4000;
constexpr uint64_t kRt = kAof + 0x180000;
constexpr uint32_t kCtxReg = 70;  // the heap context's pair

// A heap of 256 KiB chunks (one initial) on the lab's VM, a position shader,
// a tiler context and a 64x64 framebuffer with one linear render target in
// the alloc-on-fault BO.
struct TilerLab {
  SyncLab s;
  PanthorTilerHeapCreate heap{};
  TilerLab(uint32_t max_chunks, uint32_t target_in_flight = 2) {
    heap = {s.lab.vm, 1, static_cast<uint32_t>(kChunk), max_chunks, target_in_flight, 0, 0, 0};
    EXPECT_EQ(s.lab.t.Call(kPanthorIoctlTilerHeapCreate, &heap), 0);
    std::vector<uint32_t> m(0x4000 / 4);
    auto put = [&](uint64_t va, std::vector<uint32_t> words) {
      for (size_t i = 0; i < words.size(); ++i) m[(va - kPlainVa - 0x1000) / 4 + i] = words[i];
    };
    put(kSpd, {8 | 1 << 4, 0, static_cast<uint32_t>(kPlainVa + 0x2000), 0});  // Shader Program
    put(kTiler + 24, {static_cast<uint32_t>(kTiler + 0x100), 0});             // its Heap
    put(kTiler + 0x100, {9 | 2 << 4});                                        // Tiler Heap
    put(kFbd + 32, {63 | 63 << 16});                                          // 64 x 64
    put(kFbd + 56, {static_cast<uint32_t>(kTiler), 0});                       // its Tiler
    put(kFbd + 128 + 4, {1 | 2 << 8});  // RT 0: write enabled, linear
    put(kFbd + 128 + 32, {static_cast<uint32_t>(kRt), 0, 64 * 4, 0});
    s.lab.t.dev.LookupBo(s.lab.t.file, s.lab.plain)->Write(0x1000, m.data(), m.size() * 4);
  }
  uint64_t VmKey() { return s.lab.t.dev.LookupVm(s.lab.t.file, s.lab.vm)->key(); }
  heap::HeapCounters Counters() {
    return s.lab.t.dev.heaps().Counters(VmKey(), heap.tiler_heap_ctx_gpu_va);
  }
  uint64_t Completed(int i) {
    return s.Word(0x3000 + 40 + 8 * i) | uint64_t{s.Word(0x3000 + 44 + 8 * i)} << 32;
  }
  std::vector<uint64_t> Set() {
    return {Move48(kCtxReg, heap.tiler_heap_ctx_gpu_va), HeapSet(kCtxReg)};
  }
  // A tiling pass of one draw of `triangles` triangles (positions in the heap).
  std::vector<uint64_t> Pass(uint32_t triangles, bool finish = true) {
    std::vector<uint64_t> w = Set();
    const std::vector<uint64_t> draw = {HeapOperation(0),
                                        Move48(0, 0),
                                        Move48(8, 0),
                                        Move48(24, 0),
                                        Move48(16, kSpd),
                                        Move48(18, 0),
                                        Move48(20, 0),
                                        Move48(46, 0),
                                        Move48(50, 0),
                                        Move48(52, 0),
                                        Move32(33, 3 * triangles),
                                        Move32(34, 1),
                                        Move32(56, 8),  // triangles
                                        Move48(40, kTiler),
                                        RunIdvs(true)};
    w.insert(w.end(), draw.begin(), draw.end());
    if (finish) {
      w.push_back(FinishTiling());
      w.push_back(HeapOperation(1));
    }
    return w;
  }
  // The fragment pass: the render target, then the pass's chunks back.
  std::vector<uint64_t> Fragment() {
    std::vector<uint64_t> w = Set();
    const std::vector<uint64_t> f = {Move48(40, kFbd | 1),         RunFragment(),
                                     Move48(2, kTiler + 40),       Load(86, 2, 0xf, 0),
                                     FinishFragment(true, 86, 88), Move48(40, kTiler)};
    w.insert(w.end(), f.begin(), f.end());
    return w;
  }
  bool Mapped(uint64_t va) {
    return s.lab.t.dev.LookupVm(s.lab.t.file, s.lab.vm)->page_table().Translate(va).mapped;
  }
  bool LogHas(const std::string& what) {
    for (const std::string& line : s.lab.t.dev.kernel_log())
      if (line.find(what) != std::string::npos) return true;
    return false;
  }
};

TEST(CsTilerTest, ADrawGrowsTheHeapAndFinishTilingCompletesThePass) {
  TilerLab t(3);
  // 4,000 triangles: 128 + 32 x 4,000 + 16 x 12,000 bytes, two chunks.
  ASSERT_EQ(gpu::PolygonListBytes(4000, 12000, true), 320128u);
  EXPECT_EQ(t.s.Wait(t.s.Submit(0, 0x2000, t.Pass(4000))), 0);
  EXPECT_EQ(t.s.lab.t.dev.LookupGroup(t.s.lab.t.file, t.s.group2)->fatal_queues, 0u);
  EXPECT_EQ(t.s.lab.t.dev.heaps().stats().grows, 1u) << "the initial chunk, then one grown";
  EXPECT_EQ(t.s.lab.t.dev.heaps().stats().fallbacks, 0u);
  EXPECT_EQ(t.Completed(0), t.heap.first_heap_chunk_gpu_va) << "completed top";
  EXPECT_EQ(t.Completed(1), t.heap.first_heap_chunk_gpu_va + kChunk) << "completed bottom";
  const heap::HeapCounters c = t.Counters();
  EXPECT_EQ(c.vt_start, 1u);
  EXPECT_EQ(c.vt_end, 1u);
}

TEST(CsTilerTest, AFragmentPassWritesItsTargetAndHandsTheChunksBack) {
  TilerLab t(3);
  ASSERT_FALSE(t.Mapped(kRt));
  EXPECT_EQ(t.s.Wait(t.s.Submit(0, 0x2000, t.Pass(4000))), 0);
  EXPECT_EQ(t.s.Wait(t.s.Submit(1, 0x3000, t.Fragment())), 0);
  EXPECT_TRUE(t.Mapped(kRt)) << "the render target faulted in";
  EXPECT_TRUE(t.Mapped(kRt + 64 * 64 * 4 - 1));
  EXPECT_FALSE(t.Mapped(kRt + 0x10000)) << "a 64x64 target of 4 bytes a pixel, no more";
  EXPECT_EQ(t.Counters().frag_end, 1u);
  // The next pass takes the returned chunks: nothing grows.
  EXPECT_EQ(t.s.Wait(t.s.Submit(0, 0x2000, t.Pass(4000))), 0);
  EXPECT_EQ(t.s.lab.t.dev.heaps().stats().grows, 1u);
  EXPECT_EQ(t.s.lab.t.dev.LookupGroup(t.s.lab.t.file, t.s.group2)->fatal_queues, 0u);
}

TEST(CsTilerTest, ATilerOomRunsTheExceptionHandlerAndTheDrawFinishes) {
  TilerLab t(2);  // room for 2 chunks: 7,000 triangles need 3
  const std::vector<uint64_t> handler = t.Fragment();
  t.s.lab.t.dev.LookupBo(t.s.lab.t.file, t.s.lab.cs_bo)
      ->Write(0x1000, handler.data(), handler.size() * 8);
  std::vector<uint64_t> w = {Move48(74, kCs + 0x1000), Move32(72, handler.size() * 8),
                             SetOomHandler(74, 72)};
  const std::vector<uint64_t> pass = t.Pass(7000);
  w.insert(w.end(), pass.begin(), pass.end());
  EXPECT_EQ(t.s.Wait(t.s.Submit(0, 0x2000, w)), 0);
  EXPECT_EQ(t.s.lab.t.dev.LookupGroup(t.s.lab.t.file, t.s.group2)->fatal_queues, 0u);
  EXPECT_EQ(t.s.lab.t.dev.heaps().stats().fallbacks, 1u) << "the kernel said -ENOMEM once";
  EXPECT_EQ(t.Counters().frag_end, 1u) << "the handler rendered the pass so far";
  EXPECT_TRUE(t.Mapped(kRt));
  // The rest of the draw went into a returned chunk.
  EXPECT_EQ(t.Completed(0), t.heap.first_heap_chunk_gpu_va);
  EXPECT_EQ(t.Completed(1), t.heap.first_heap_chunk_gpu_va);
  EXPECT_LT(t.s.lab.t.dev.now_ns(), 1'000'000'000u);
}

TEST(CsTilerTest, WithNoHandlerTheDrawWaitsForAnotherQueuesFragmentPass) {
  TilerLab t(2);
  // Pass 1 takes both chunks (tiled, not yet rendered); pass 2 on queue 0
  // finds none and waits; queue 1's fragment pass hands pass 1's back.
  EXPECT_EQ(t.s.Wait(t.s.Submit(0, 0x2000, t.Pass(4000))), 0);
  const uint32_t second = t.s.Submit(0, 0x4000, t.Pass(100));
  EXPECT_EQ(t.s.Wait(t.s.Submit(1, 0x3000, t.Fragment())), 0);
  EXPECT_EQ(t.s.Wait(second), 0);
  EXPECT_EQ(t.s.lab.t.dev.heaps().stats().fallbacks, 1u) << "asked once, then waited";
  EXPECT_LT(t.s.lab.t.dev.now_ns(), 1'000'000'000u) << "released, not timed out";
  EXPECT_EQ(t.Completed(0), t.heap.first_heap_chunk_gpu_va) << "pass 2 in a returned chunk";
}

TEST(CsTilerTest, ADrawBiggerThanTheHeapWithNoHandlerTimesOut) {
  TilerLab t(2);
  EXPECT_EQ(t.s.Wait(t.s.Submit(0, 0x2000, t.Pass(7000))), 0);
  PanthorGroupGetState st{t.s.group2, 0, 0, 0};
  ASSERT_EQ(t.s.lab.t.Call(kPanthorIoctlGroupGetState, &st), 0);
  EXPECT_EQ(st.state, kPanthorGroupStateTimedout);
  EXPECT_TRUE(t.LogHas("a wait never satisfied"));
}

TEST(CsTilerTest, ATilerOomWithNoTilingCountedIsRefusedByTheKernel) {
  TilerLab t(3);
  std::vector<uint64_t> w = t.Pass(4000, /*finish=*/false);
  w.erase(w.begin() + 2);  // no HEAP_OPERATION vt_start: VT_END >= VT_START
  EXPECT_EQ(t.s.Wait(t.s.Submit(0, 0x2000, w)), 0);
  EXPECT_NE(t.s.lab.t.dev.LookupGroup(t.s.lab.t.file, t.s.group2)->fatal_queues, 0u);
  EXPECT_TRUE(t.LogHas("tiler OOM with no vertex/tiler work in flight"));
}

TEST(CsTilerTest, TwoVmsHeapsAtTheSameKernelVaAreTwoHeaps) {
  // Every VM's kernel VA range starts alike: both contexts land at one VA.
  TilerLab t(3);
  const uint32_t vm2 = t.s.lab.t.CreateVm();
  PanthorTilerHeapCreate h2{vm2, 1, static_cast<uint32_t>(kChunk), 3, 2, 0, 0, 0};
  ASSERT_EQ(t.s.lab.t.Call(kPanthorIoctlTilerHeapCreate, &h2), 0);
  EXPECT_EQ(h2.tiler_heap_ctx_gpu_va, t.heap.tiler_heap_ctx_gpu_va);
  PanthorTilerHeapDestroy d{t.heap.handle, 0};
  EXPECT_EQ(t.s.lab.t.Call(kPanthorIoctlTilerHeapDestroy, &d), 0) << "the first VM's heap is there";
  PanthorTilerHeapDestroy d2{h2.handle, 0};
  EXPECT_EQ(t.s.lab.t.Call(kPanthorIoctlTilerHeapDestroy, &d2), 0);
}

TEST(CsTilerTest, PolygonListBytesFollowTheDrawMode) {
  EXPECT_EQ(gpu::Primitives(8, 9), 3u);   // triangles
  EXPECT_EQ(gpu::Primitives(10, 9), 7u);  // strip
  EXPECT_EQ(gpu::Primitives(12, 2), 0u);  // a fan of two vertices
  EXPECT_EQ(gpu::Primitives(2, 9), 4u);   // lines
  EXPECT_EQ(gpu::Primitives(1, 9), 9u);   // points
  EXPECT_EQ(gpu::Primitives(0, 9), 0u);   // none
  EXPECT_EQ(gpu::PolygonListBytes(0, 9, true), 0u) << "nothing drawn, nothing written";
  EXPECT_EQ(gpu::PolygonListBytes(3, 9, false), 128u + 96u);
  EXPECT_EQ(gpu::PolygonListBytes(3, 9, true), 128u + 96u + 144u);
}

}  // namespace
}  // namespace faultlab::dev
