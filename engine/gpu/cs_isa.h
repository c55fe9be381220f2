// The CSF command-stream instruction set as Mali v10 encodes it: one place
// for its opcodes, field positions and names. Source: Mesa 25.0.7's
// src/panfrost/lib/genxml/v10.xml ("CS Opcode" and the CS_* structs). One
// 64-bit little-endian word per instruction, the opcode in [63:56]; 32-bit
// registers, a 64-bit value an even/odd pair ("d" names a pair, "r" one).
// The interpreter (cs.h) gives the instructions their effect; `faultlab
// dump` prints them with Disassemble.
//
//   if (cs::OpOf(w) == cs::kCall) Call(cs::AddrReg(w), cs::DataReg(w));
//   std::string line = cs::Disassemble(w);   // "CALL d2, r4"
#ifndef FAULTLAB_ENGINE_GPU_CS_ISA_H_
#define FAULTLAB_ENGINE_GPU_CS_ISA_H_

#include <cstdint>
#include <string>

namespace faultlab::gpu::cs {

// "CS Opcode". Every other value is CS_INSTR_INVALID.
enum Opcode : uint32_t {
  kNop = 0,
  kMove48 = 1,
  kMove32 = 2,
  kWait = 3,
  kRunCompute = 4,
  kRunTiling = 5,
  kRunIdvs = 6,
  kRunFragment = 7,
  kRunFullscreen = 8,
  kFinishTiling = 9,
  kFinishFragment = 11,
  kAddImm32 = 16,
  kAddImm64 = 17,
  kUmin32 = 18,  // COMPARE_SELECT32, whose one form is UMIN32
  kLoadMultiple = 20,
  kStoreMultiple = 21,
  kBranch = 22,
  kSetSbEntry = 23,
  kProgressWait = 24,
  kSetExceptionHandler = 25,
  kCall = 32,
  kJump = 33,
  kReqResource = 34,
  kFlushCache2 = 36,
  kSyncAdd32 = 37,
  kSyncSet32 = 38,
  kSyncWait32 = 39,
  kStoreState = 40,
  kProtRegion = 41,
  kProgressStore = 42,
  kProgressLoad = 43,
  kRunComputeIndirect = 44,
  kErrorBarrier = 47,
  kHeapSet = 48,
  kHeapOperation = 49,
  kTracePoint = 50,
  kSyncAdd64 = 51,
  kSyncSet64 = 52,
  kSyncWait64 = 53,
};

// "CS Exception type": the one exception a stream can handle.
constexpr uint32_t kExceptionTilerOom = 2;
// "CS Heap Operation".
enum HeapOp : uint32_t { kVtStarted = 0, kVtCompleted = 1, kFragCompleted = 3 };

// Fields, by where v10 puts them.
inline uint32_t OpOf(uint64_t w) { return static_cast<uint32_t>(w >> 56); }
// [55:48]: a destination, FINISH_FRAGMENT's and the sync ops' signal slot ([51:48]).
inline uint32_t DstReg(uint64_t w) { return (w >> 48) & 0xff; }
inline uint32_t SignalSlot(uint64_t w) { return (w >> 48) & 0xf; }
// [47:40]: a source or the address pair.
inline uint32_t AddrReg(uint64_t w) { return (w >> 40) & 0xff; }
// [39:32]: a data register, a length, UMIN32's second source.
inline uint32_t DataReg(uint64_t w) { return (w >> 32) & 0xff; }
// [31:16]: the scoreboard entries an instruction waits for first (WAIT's is [23:16]).
inline uint32_t WaitMask(uint64_t w) { return (w >> 16) & 0xffff; }
// [32]: the RUN_* family's, WAIT's and FINISH_TILING's progress increment.
inline bool ProgressIncrement(uint64_t w) { return (w >> 32) & 1; }
// [15:0] signed: byte offsets (LOAD/STORE_MULTIPLE, STORE_STATE) and
// instruction offsets (BRANCH).
inline int64_t Offset16(uint64_t w) { return static_cast<int16_t>(w & 0xffff); }
// [31:0] signed: MOVE32's and the ADD_IMMEDIATEs' immediate.
inline int32_t Imm32(uint64_t w) { return static_cast<int32_t>(w & 0xffffffff); }

// The opcode's v10 name ("RUN_COMPUTE"); nullptr for none.
const char* OpcodeName(uint32_t op);
// One instruction in Mesa's pandecode style ("SYNC_ADD64.system [d2], d4,
// #0x1, #0"); an unknown opcode reads "UNKNOWN_<op> 0x<data>".
std::string Disassemble(uint64_t w);

}  // namespace faultlab::gpu::cs

#endif  // FAULTLAB_ENGINE_GPU_CS_ISA_H_
