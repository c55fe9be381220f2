#include "engine/gpu/cs_isa.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace faultlab::gpu::cs {
namespace {

const char* const kConditions[8] = {"le", "gt", "eq", "ne", "lt", "ge", "always", "invalid7"};

// "[d2]" or "[d2 + 8]".
std::string Indirect(uint32_t reg, int64_t offset) {
  return offset ? absl::StrFormat("[d%u + %d]", reg, offset) : absl::StrFormat("[d%u]", reg);
}

// LOAD/STORE_MULTIPLE's registers: "r10:r11" for mask 0b11 from r10.
std::string RegTuple(uint32_t base, uint32_t mask) {
  std::string s;
  for (uint32_t i = 0; i < 16; ++i) {
    if ((mask >> i) & 1) absl::StrAppend(&s, s.empty() ? "" : ":", "r", base + i);
  }
  return s.empty() ? "_" : s;
}

std::string Progress(uint64_t w) { return ProgressIncrement(w) ? ".progress_inc" : ""; }

// SYNC_ADD/SET's modifiers: error propagation [0], scope [2:1] (0 system, 2 CSG).
std::string SyncMods(uint64_t w) {
  return absl::StrCat((w & 1) ? ".error_propagate" : "", ((w >> 1) & 3) == 2 ? ".csg" : ".system");
}

std::string WaitAndSignal(uint64_t w) {
  return absl::StrFormat("#0x%x, #%u", WaitMask(w), SignalSlot(w));
}

std::string Shader(uint64_t w) {
  return absl::StrFormat(".srt%u.spd%u.tsd%u.fau%u", (w >> 40) & 3, (w >> 42) & 3, (w >> 44) & 3,
                         (w >> 46) & 3);
}

}  // namespace

const char* OpcodeName(uint32_t op) {
  switch (op) {
    case kNop:
      return "NOP";
    case kMove48:
      return "MOVE48";
    case kMove32:
      return "MOVE32";
    case kWait:
      return "WAIT";
    case kRunCompute:
      return "RUN_COMPUTE";
    case kRunTiling:
      return "RUN_TILING";
    case kRunIdvs:
      return "RUN_IDVS";
    case kRunFragment:
      return "RUN_FRAGMENT";
    case kRunFullscreen:
      return "RUN_FULLSCREEN";
    case kFinishTiling:
      return "FINISH_TILING";
    case kFinishFragment:
      return "FINISH_FRAGMENT";
    case kAddImm32:
      return "ADD_IMMEDIATE32";
    case kAddImm64:
      return "ADD_IMMEDIATE64";
    case kUmin32:
      return "UMIN32";
    case kLoadMultiple:
      return "LOAD_MULTIPLE";
    case kStoreMultiple:
      return "STORE_MULTIPLE";
    case kBranch:
      return "BRANCH";
    case kSetSbEntry:
      return "SET_SB_ENTRY";
    case kProgressWait:
      return "PROGRESS_WAIT";
    case kSetExceptionHandler:
      return "SET_EXCEPTION_HANDLER";
    case kCall:
      return "CALL";
    case kJump:
      return "JUMP";
    case kReqResource:
      return "REQ_RESOURCE";
    case kFlushCache2:
      return "FLUSH_CACHE2";
    case kSyncAdd32:
      return "SYNC_ADD32";
    case kSyncSet32:
      return "SYNC_SET32";
    case kSyncWait32:
      return "SYNC_WAIT32";
    case kStoreState:
      return "STORE_STATE";
    case kProtRegion:
      return "PROT_REGION";
    case kProgressStore:
      return "PROGRESS_STORE";
    case kProgressLoad:
      return "PROGRESS_LOAD";
    case kRunComputeIndirect:
      return "RUN_COMPUTE_INDIRECT";
    case kErrorBarrier:
      return "ERROR_BARRIER";
    case kHeapSet:
      return "HEAP_SET";
    case kHeapOperation:
      return "HEAP_OPERATION";
    case kTracePoint:
      return "TRACE_POINT";
    case kSyncAdd64:
      return "SYNC_ADD64";
    case kSyncSet64:
      return "SYNC_SET64";
    case kSyncWait64:
      return "SYNC_WAIT64";
    default:
      return nullptr;
  }
}

std::string Disassemble(uint64_t w) {
  const uint32_t op = OpOf(w);
  const char* name = OpcodeName(op);
  if (name == nullptr) return absl::StrFormat("UNKNOWN_%u 0x%X", op, w & 0xffffffffffffff);
  const uint32_t d = DstReg(w), a = AddrReg(w), r = DataReg(w);
  switch (op) {
    case kNop:
      return (w & 0xffffffffffffff) ? absl::StrFormat("NOP // 0x%X", w & 0xffffffffffffff) : "NOP";
    case kMove48:
      return absl::StrFormat("MOVE48 d%u, #0x%X", d, w & 0xffffffffffff);
    case kMove32:
      return absl::StrFormat("MOVE32 r%u, #0x%X", d, w & 0xffffffff);
    case kWait:
      return absl::StrFormat("WAIT%s #0x%x", Progress(w), (w >> 16) & 0xff);
    case kRunCompute:
      return absl::StrFormat("RUN_COMPUTE%s.%c_axis%s #%u", Progress(w), "xyz?"[(w >> 14) & 3],
                             Shader(w), w & 0x3fff);
    case kRunComputeIndirect:
      return absl::StrFormat("RUN_COMPUTE_INDIRECT%s%s #%u", Progress(w), Shader(w), w & 0xffff);
    case kRunTiling:
      return absl::StrFormat("RUN_TILING%s%s #0x%x", Progress(w), Shader(w), w & 0xffffffff);
    case kRunIdvs:
      return absl::StrFormat("RUN_IDVS%s%s%s r%u, #0x%x", Progress(w),
                             ((w >> 33) & 1) ? "" : ".no_malloc",
                             ((w >> 34) & 1) ? ".draw_id_enable" : "", a, w & 0xffffffff);
    case kRunFragment:
      return absl::StrFormat("RUN_FRAGMENT%s%s.tile_order=%u", Progress(w),
                             (w & 1) ? ".tile_enable_map_enable" : "", (w >> 4) & 0xf);
    case kRunFullscreen:
      return absl::StrFormat("RUN_FULLSCREEN%s r%u, #0x%x", Progress(w), a, w & 0xffffffff);
    case kFinishTiling:
      return absl::StrCat("FINISH_TILING", Progress(w));
    case kFinishFragment:
      return absl::StrFormat("FINISH_FRAGMENT%s d%u, d%u, %s", (w & 1) ? ".frag_end" : "", r, a,
                             WaitAndSignal(w));
    case kAddImm32:
      return absl::StrFormat("ADD_IMMEDIATE32 r%u, r%u, #%d", d, a, Imm32(w));
    case kAddImm64:
      return absl::StrFormat("ADD_IMMEDIATE64 d%u, d%u, #%d", d, a, Imm32(w));
    case kUmin32:
      return absl::StrFormat("UMIN32 r%u, r%u, r%u", d, a, r);
    case kLoadMultiple:
      return absl::StrCat("LOAD_MULTIPLE ", RegTuple(d, WaitMask(w)), ", ",
                          Indirect(a, Offset16(w)));
    case kStoreMultiple:
      return absl::StrCat("STORE_MULTIPLE ", Indirect(a, Offset16(w)), ", ",
                          RegTuple(d, WaitMask(w)));
    case kBranch:
      return absl::StrFormat("BRANCH.%s r%u, #%d", kConditions[(w >> 28) & 7], a, Offset16(w));
    case kSetSbEntry:
      return absl::StrFormat("SET_SB_ENTRY #%u, #%u", w & 0xf, (w >> 4) & 0xf);
    case kProgressWait:
      return absl::StrFormat("PROGRESS_WAIT d%u, #%u", a, w & 0x1f);
    case kSetExceptionHandler:
      return absl::StrFormat("SET_EXCEPTION_HANDLER.%s d%u, r%u",
                             (w & 0xff) == kExceptionTilerOom ? "tiler_oom" : "invalid", a, r);
    case kCall:
    case kJump:
      return absl::StrFormat("%s d%u, r%u", name, a, r);
    case kReqResource:
      return absl::StrCat("REQ_RESOURCE", (w & 1) ? ".compute" : "", (w & 2) ? ".fragment" : "",
                          (w & 4) ? ".tiler" : "", (w & 8) ? ".idvs" : "");
    case kFlushCache2: {
      static const char* const kMode[4] = {"nop", "clean", "invalid", "clean_invalidate"};
      return absl::StrFormat(
          "FLUSH_CACHE2.%s_l2.%s_lsc.%s r%u, %s", kMode[w & 3], kMode[(w >> 4) & 3],
          ((w >> 8) & 0xf) == 2 ? "invalidate_other" : "nop_other", a, WaitAndSignal(w));
    }
    case kSyncAdd32:
    case kSyncSet32:
      return absl::StrFormat("%s%s [d%u], r%u, %s", name, SyncMods(w), a, r, WaitAndSignal(w));
    case kSyncAdd64:
    case kSyncSet64:
      return absl::StrFormat("%s%s [d%u], d%u, %s", name, SyncMods(w), a, r, WaitAndSignal(w));
    case kSyncWait32:
    case kSyncWait64:
      return absl::StrFormat("%s.%s%s d%u, %s%u", name, kConditions[(w >> 28) & 7],
                             (w & 1) ? ".reject" : ".inherit", a, op == kSyncWait32 ? "r" : "d", r);
    case kStoreState: {
      static const char* const kState[4] = {"timestamp", "cycle_count", "disjoint_count",
                                            "error_status"};
      return absl::StrFormat("STORE_STATE.%s %s, %s", kState[(w >> 32) & 3],
                             Indirect(a, Offset16(w)), WaitAndSignal(w));
    }
    case kProtRegion:
      return absl::StrFormat("PROT_REGION #%u", (w & 0xffff) << 3);
    case kProgressStore:
      return absl::StrFormat("PROGRESS_STORE d%u", a);
    case kProgressLoad:
      return absl::StrFormat("PROGRESS_LOAD d%u", d);
    case kHeapSet:
      return absl::StrFormat("HEAP_SET d%u", a);
    case kHeapOperation: {
      static const char* const kOps[4] = {"vt_start", "vt_end", "invalid2", "frag_end"};
      return absl::StrFormat("HEAP_OPERATION.%s %s", kOps[(w >> 32) & 3], WaitAndSignal(w));
    }
    case kTracePoint:
      return absl::StrFormat("TRACE_POINT r%u+%u, %s", r, a, WaitAndSignal(w));
    default:  // ERROR_BARRIER
      return name;
  }
}

}  // namespace faultlab::gpu::cs
