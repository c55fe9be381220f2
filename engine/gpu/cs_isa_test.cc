// The instruction set's names: every opcode of Mesa 25.0.7's v10 "CS Opcode"
// enum has its name and nothing else has one; instructions disassemble with
// their operands as Mesa's pandecode prints them.
#include "engine/gpu/cs_isa.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace faultlab::gpu::cs {
namespace {

uint64_t Op(uint64_t op, uint64_t bits) { return op << 56 | bits; }

TEST(CsIsaTest, EveryV10OpcodeHasItsNameAndNoOtherHasOne) {
  // v10.xml's "CS Opcode" values.
  const std::set<uint32_t> v10 = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  11, 16, 17,
                                  18, 20, 21, 22, 23, 24, 25, 32, 33, 34, 36, 37, 38,
                                  39, 40, 41, 42, 43, 44, 47, 48, 49, 50, 51, 52, 53};
  for (uint32_t op = 0; op < 256; ++op) {
    EXPECT_EQ(OpcodeName(op) != nullptr, v10.count(op) == 1) << op;
  }
  EXPECT_STREQ(OpcodeName(kUmin32), "UMIN32");
  EXPECT_STREQ(OpcodeName(kRunComputeIndirect), "RUN_COMPUTE_INDIRECT");
  EXPECT_EQ(Disassemble(Op(10, 0x1234)), "UNKNOWN_10 0x1234");
}

TEST(CsIsaTest, InstructionsDisassembleWithTheirOperands) {
  EXPECT_EQ(Disassemble(Op(kMove48, uint64_t{2} << 48 | 0x10000000)), "MOVE48 d2, #0x10000000");
  EXPECT_EQ(Disassemble(Op(kCall, uint64_t{6} << 40 | uint64_t{8} << 32)), "CALL d6, r8");
  EXPECT_EQ(
      Disassemble(Op(kStoreMultiple, uint64_t{10} << 48 | uint64_t{2} << 40 | 0b11 << 16 | 4)),
      "STORE_MULTIPLE [d2 + 4], r10:r11");
  EXPECT_EQ(Disassemble(Op(kBranch, uint64_t{5} << 40 | uint64_t{3} << 28 | 0xfffe)),
            "BRANCH.ne r5, #-2");
  EXPECT_EQ(Disassemble(Op(kSyncAdd64, uint64_t{2} << 40 | uint64_t{4} << 32 | 1 << 16 | 1)),
            "SYNC_ADD64.error_propagate.system [d2], d4, #0x1, #0");
  EXPECT_EQ(Disassemble(Op(kSyncWait32, uint64_t{2} << 40 | uint64_t{10} << 32 | 1 << 28)),
            "SYNC_WAIT32.gt.inherit d2, r10");
  EXPECT_EQ(Disassemble(Op(kRunCompute, uint64_t{1} << 32 | uint64_t{1} << 42 | 5)),
            "RUN_COMPUTE.progress_inc.x_axis.srt0.spd1.tsd0.fau0 #5");
  EXPECT_EQ(Disassemble(Op(kHeapOperation, uint64_t{3} << 32)), "HEAP_OPERATION.frag_end #0x0, #0");
  EXPECT_EQ(Disassemble(Op(kSetExceptionHandler, uint64_t{4} << 40 | uint64_t{6} << 32 | 2)),
            "SET_EXCEPTION_HANDLER.tiler_oom d4, r6");
  EXPECT_EQ(Disassemble(Op(kFinishFragment, 1 | uint64_t{4} << 32 | uint64_t{2} << 40)),
            "FINISH_FRAGMENT.frag_end d4, d2, #0x0, #0");
  EXPECT_EQ(Disassemble(Op(kErrorBarrier, 0)), "ERROR_BARRIER");
}

}  // namespace
}  // namespace faultlab::gpu::cs
