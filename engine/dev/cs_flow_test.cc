// The rest of the v10 instruction set on the twin: CALL returns and JUMP
// does not, a CALL past the firmware's frames is CS_CALL_STACK_OVERFLOW;
// registers live on from job to job and the ring buffer's show the stream;
// UMIN32 and the progress counter (PROGRESS_WAIT waits for another queue);
// a propagating sync writes the error state;
// PROT_REGION waits for a protected mode panthor never enters; unused
// opcodes stay CS_INSTR_INVALID; RUN_COMPUTE touches what its descriptors
// name, faulting alloc-on-fault pages in, and an unmapped shader kills the
// group.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/dev/cs_lab.h"
#include "engine/uapi/panthor.h"

namespace faultlab::dev {
namespace {

using namespace testing::cs;  // NOLINT: the encoders read best unqualified
using testing::kAof;
using testing::kCs;
using testing::kPlainVa;
using testing::Lab;
using testing::SyncLab;

// A buffer that stores 0x5b at pair 4, to CALL or JUMP to.
constexpr uint64_t kSub = 0x800;
void WriteSub(Lab& lab, const std::vector<uint64_t>& words) {
  lab.t.dev.LookupBo(lab.t.file, lab.cs_bo)->Write(kSub, words.data(), words.size() * 8);
}
bool LogHas(Lab& lab, const std::string& s) {
  for (const std::string& line : lab.t.dev.kernel_log())
    if (line.find(s) != std::string::npos) return true;
  return false;
}
gpu::CsState& State(Lab& lab) { return lab.t.dev.LookupGroup(lab.t.file, lab.group)->queues[0].cs; }

TEST(CsFlowTest, CallReturnsAndJumpDoesNot) {
  for (uint32_t op : {32u, 33u}) {
    Lab lab;
    WriteSub(lab, {Move32(11, 0x5b), Store(11, 4, 1, 0)});
    int waited = -1;
    ASSERT_EQ(lab.Run({Move48(4, kPlainVa + 0x500), Move48(6, kCs + kSub), Move32(8, 16),
                       op == 32 ? Call(6, 8) : Jump(6, 8), Move48(4, kPlainVa + 0x504),
                       Move32(11, 0x77), Store(11, 4, 1, 0)},
                      &waited),
              0);
    EXPECT_EQ(waited, 0);
    EXPECT_EQ(lab.FatalQueues(), 0u);
    EXPECT_EQ(lab.Word(lab.plain, 0x500), 0x5bu) << "the buffer ran";
    EXPECT_EQ(lab.Word(lab.plain, 0x504), op == 32 ? 0x77u : 0u)
        << (op == 32 ? "CALL returns to the next instruction" : "JUMP never returns");
  }
}

TEST(CsFlowTest, ACallPastTheFirmwaresFramesIsFatal) {
  Lab lab;
  WriteSub(lab, {Call(6, 8)});  // calls itself for ever
  ASSERT_EQ(lab.Run({Move48(6, kCs + kSub), Move32(8, 8), Call(6, 8)}), 0);
  EXPECT_NE(lab.FatalQueues(), 0u);
  EXPECT_TRUE(LogHas(lab, "0x4a")) << "CS_CALL_STACK_OVERFLOW";
  // Six nested calls below the submitted stream still fit.
  Lab fits;
  WriteSub(fits, {Move32(11, 1), Store(11, 4, 1, 0)});
  std::vector<uint64_t> chain;
  for (int depth = 5; depth >= 1; --depth) {  // buffer k calls buffer k+1's address
    const uint64_t at = kSub + 0x100 * depth;
    const std::vector<uint64_t> b = {Move48(6, kCs + (depth == 5 ? kSub : at + 0x100)), Call(6, 8)};
    fits.t.dev.LookupBo(fits.t.file, fits.cs_bo)->Write(at, b.data(), b.size() * 8);
  }
  ASSERT_EQ(fits.Run({Move48(4, kPlainVa + 0x540), Move32(8, 16), Move48(6, kCs + kSub + 0x100),
                      Call(6, 8)}),
            0);
  EXPECT_EQ(fits.FatalQueues(), 0u);
  EXPECT_EQ(fits.Word(fits.plain, 0x540), 1u);
}

TEST(CsFlowTest, AJumpToItselfIsAnEndlessLoopThatTimesOut) {
  Lab lab;
  WriteSub(lab, {Jump(6, 8)});  // jumps to its own start for ever
  ASSERT_EQ(lab.Run({Move48(6, kCs + kSub), Move32(8, 8), Jump(6, 8)}), 0);
  EXPECT_GE(lab.t.dev.now_ns(), 5'000'000'000u);
  EXPECT_TRUE(LogHas(lab, "an endless loop"));
}

TEST(CsFlowTest, RegistersOutliveTheJobAndTheRingBufferShowsTheStream) {
  Lab lab;
  ASSERT_EQ(lab.Run({Move32(20, 0xabc)}), 0);
  ASSERT_EQ(lab.Run({Move48(2, kPlainVa + 0x700), Store(20, 2, 1, 0), Move48(2, kPlainVa + 0x710),
                     Store(92, 2, 0b111, 0)}),
            0);
  EXPECT_EQ(lab.Word(lab.plain, 0x700), 0xabcu) << "r20 from the job before";
  EXPECT_EQ(lab.Word(lab.plain, 0x710), kCs) << "the ring buffer's d92: the stream";
  EXPECT_EQ(lab.Word(lab.plain, 0x718), 4u * 8) << "r94: its size";
  // After the job, the ring buffer's MOV48 rX+2, #1.
  EXPECT_EQ(State(lab).regs[94], 1u);
}

TEST(CsFlowTest, Umin32AndTheProgressCounter) {
  Lab lab;
  ASSERT_EQ(lab.Run({Move32(10, 9), Move32(11, 4), Umin32(12, 10, 11), Wait(0, true),
                     Wait(0x1, true), Wait(0, false), ProgressLoad(14), Move48(2, kPlainVa + 0x720),
                     Store(12, 2, 1, 0), Store(14, 2, 1, 4), Move48(16, 100), ProgressStore(16),
                     ProgressLoad(18), Store(18, 2, 1, 8)}),
            0);
  EXPECT_EQ(lab.FatalQueues(), 0u);
  EXPECT_EQ(lab.Word(lab.plain, 0x720), 4u);
  EXPECT_EQ(lab.Word(lab.plain, 0x724), 2u) << "two WAITs counted progress";
  EXPECT_EQ(lab.Word(lab.plain, 0x728), 100u);
}

TEST(CsFlowTest, ProgressWaitBlocksUntilTheOtherQueueProgresses) {
  SyncLab s;
  const uint32_t blocked = s.Submit(0, 0,
                                    {Move48(2, 1), ProgressWait(2, 1), Move48(4, kPlainVa + 0x200),
                                     Move32(11, 0xd0e), Store(11, 4, 1, 0)});
  const uint32_t progress = s.Submit(1, 0x400, {Wait(0, true)});
  EXPECT_EQ(s.Wait(progress), 0);
  EXPECT_EQ(s.Wait(blocked), 0);
  EXPECT_EQ(s.Word(0x200), 0xd0eu);
  EXPECT_LT(s.lab.t.dev.now_ns(), 1'000'000'000u) << "released, not timed out";
}

TEST(CsFlowTest, APropagatingSyncWritesTheErrorState) {
  Lab lab;
  const uint32_t garbage[2] = {0xffffffff, 0xffffffff};
  lab.t.dev.LookupBo(lab.t.file, lab.plain)->Write(0x738, garbage, 8);
  ASSERT_EQ(lab.Run({Move48(2, kPlainVa + 0x730), Move48(4, 5), SyncAdd64Propagate(4, 2)}), 0);
  EXPECT_EQ(lab.Word(lab.plain, 0x730), 5u);
  EXPECT_EQ(lab.Word(lab.plain, 0x738), 0u) << "no fault";
  EXPECT_EQ(lab.Word(lab.plain, 0x73c), 0xffffffffu) << "32 bits of status, no more";
}

TEST(CsFlowTest, ProtRegionWaitsForAProtectedModePanthorNeverEnters) {
  Lab lab;
  ASSERT_EQ(lab.Run({Op(41, 4)}), 0);
  EXPECT_GE(lab.t.dev.now_ns(), 5'000'000'000u);
  EXPECT_TRUE(LogHas(lab, "PROT_REGION"));
}

TEST(CsFlowTest, OpcodesV10DoesNotNameAreInvalid) {
  for (uint32_t op : {10u, 12u, 15u, 19u, 26u, 31u, 35u, 45u, 46u, 54u, 255u}) {
    Lab lab;
    ASSERT_EQ(lab.Run({Op(op, 0)}), 0);
    EXPECT_NE(lab.FatalQueues(), 0u) << op;
    EXPECT_TRUE(LogHas(lab, "0x49")) << op;
  }
}

// A compute dispatch's descriptors in the plain buffer: one resource table
// with a buffer of 192 KiB in the alloc-on-fault BO, two FAU words, a
// shader and thread storage for 128 threads of 16 bytes in it too.
std::vector<uint64_t> ComputeSetUp(uint64_t spd) {
  return {Move48(0, kPlainVa + 0x1000 + 1),  // SRT_0: the table, one entry
          Move48(8, kPlainVa + 0x1200),      // FAU_0 ...
          Move32(9, 2u << 24),               // ... two 64-bit words
          Move48(16, spd),                   // SPD_0
          Move48(24, kPlainVa + 0x1400),     // TSD_0
          Move32(33, 63),                    // 64 x 1 x 1 threads a workgroup
          Move32(37, 2),
          Move32(38, 1),
          Move32(39, 1),  // 2 x 1 x 1 workgroups
          RunCompute(true)};
}
void WriteDescriptors(Lab& lab) {
  std::vector<uint32_t> m(0x600 / 4);
  auto put = [&](uint64_t off, std::vector<uint32_t> words) {
    for (size_t i = 0; i < words.size(); ++i) m[(off - 0x1000) / 4 + i] = words[i];
  };
  put(0x1000, {0x1100 + static_cast<uint32_t>(kPlainVa), 1u << 24, 2 * 32, 0});  // Resource
  put(0x1100, {9 | 1 << 4, 0x30000, static_cast<uint32_t>(kAof + 0x40000), 0});  // Buffer
  put(0x1120, {1});                                                              // Sampler
  put(0x1300, {8 | 1 << 4, 0, static_cast<uint32_t>(kPlainVa + 0x2000), 0});     // Shader
  put(0x1400, {0, 31, static_cast<uint32_t>(kAof + 0x100000), 0});               // Local storage
  lab.t.dev.LookupBo(lab.t.file, lab.plain)->Write(0x1000, m.data(), m.size() * 4);
}

TEST(CsFlowTest, RunComputeTouchesWhatItsDescriptorsName) {
  Lab lab;
  WriteDescriptors(lab);
  auto mapped = [&](uint64_t va) {
    return lab.t.dev.LookupVm(lab.t.file, lab.vm)->page_table().Translate(va).mapped;
  };
  ASSERT_FALSE(mapped(kAof + 0x40000));
  const uint64_t faults = lab.t.dev.stats().faults;
  int waited = -1;
  ASSERT_EQ(lab.Run(ComputeSetUp(kPlainVa + 0x1300), &waited), 0);
  EXPECT_EQ(waited, 0);
  EXPECT_EQ(lab.FatalQueues(), 0u);
  // The buffer's three 64 KiB granules and thread storage's one faulted in.
  for (uint64_t off : {0x40000, 0x50000, 0x6f000, 0x100000}) EXPECT_TRUE(mapped(kAof + off)) << off;
  EXPECT_FALSE(mapped(kAof + 0x70000)) << "past the buffer";
  EXPECT_FALSE(mapped(kAof + 0x110000)) << "past 128 threads' storage";
  EXPECT_EQ(lab.t.dev.stats().faults - faults, 4u);
  EXPECT_EQ(State(lab).progress, 1u);
}

TEST(CsFlowTest, AnUnmappedShaderKillsTheGroup) {
  Lab lab;
  WriteDescriptors(lab);
  ASSERT_EQ(lab.Run(ComputeSetUp(kPlainVa + 0x20000)), 0);  // past the 64 KiB mapping
  EXPECT_NE(lab.FatalQueues(), 0u);
}

}  // namespace
}  // namespace faultlab::dev
