#include "engine/gpu/cs.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/gpu/cs_isa.h"
#include "engine/mmu/mmu.h"
#include "engine/pgtable/pgtable.h"
#include "engine/uapi/panthor.h"

namespace faultlab::gpu {
namespace {

using namespace cs;  // NOLINT: the opcodes and fields read best unqualified

constexpr int kInstrPerSlice = 256;  // instructions per scheduler event
constexpr uint64_t kInstrNs = 4;     // one CS instruction: a few cycles at ~1 GHz (modelled)
// CS_FATAL exception types (panthor_device.c's panthor_exception_infos).
constexpr uint32_t kCsInstrInvalid = 0x49;
constexpr uint32_t kCsCallStackOverflow = 0x4a;
constexpr uint32_t kInstrInvalidPc = 0x50;
// Frames the firmware saves: eight with the active one on a Mali-G610
// (Mesa's decode_csf.c, MAX_CALL_STACK_DEPTH); the kernel's ring buffer
// holds one of them while the job's stream runs, and an exception handler
// has one of its own.
constexpr size_t kCallFrames = 7;

void Progress(CsState& st, CsSlice* out) {
  ++st.progress;
  out->progressed = true;
}

uint64_t Reg64(const CsRegs& r, uint32_t i) {
  return r[i & 0xff] | static_cast<uint64_t>(r[(i + 1) & 0xff]) << 32;
}
void SetReg64(CsRegs& r, uint32_t i, uint64_t v) {
  r[i & 0xff] = static_cast<uint32_t>(v);
  r[(i + 1) & 0xff] = static_cast<uint32_t>(v >> 32);
}

// A SYNC_WAIT's condition ([31:28]: 0 waits until the value at the address
// is <= the data register, 1 until it is > it, unsigned) on the value `v`.
bool SyncWaitPasses(const CsState& st, uint64_t w, uint64_t v) {
  const uint64_t ref = OpOf(w) == kSyncWait64 ? Reg64(st.regs, DataReg(w)) : st.regs[DataReg(w)];
  return ((w >> 28) & 0xf) == 1 ? v > ref : v <= ref;
}

// The GPU memory a RUN_*'s footprint reads its descriptors from.
class JobMemory : public GpuMemory {
 public:
  JobMemory(Job& job, std::function<uint32_t(uint64_t, void*, uint32_t, uint64_t*)> read)
      : vm_(*job.group->vm), read_(std::move(read)) {}
  uint32_t Read(uint64_t va, void* out, uint32_t n, uint64_t* fault_va) override {
    return read_(va, out, n, fault_va);
  }
  bool Writable(uint64_t va) override {
    const vm::Vma* vma = vm_.va_space().FindFirst(va, 1);
    return vma && vma->addr <= va && !(vma->flags & uapi::kPanthorVmBindOpMapReadonly);
  }
  uint64_t MappedBytes(uint64_t va) override {
    const vm::Vma* vma = vm_.va_space().FindFirst(va, 1);
    return vma && vma->addr <= va ? vma->end() - va : 0;
  }

 private:
  vm::Vm& vm_;
  std::function<uint32_t(uint64_t, void*, uint32_t, uint64_t*)> read_;
};

}  // namespace

uint32_t CsInterpreter::Access(Job& job, uint64_t va, void* data, uint32_t n, bool write,
                               uint64_t* fault_va) {
  vm::Vm& vm = *job.group->vm;
  // Every page translates before any byte moves: an instruction that
  // faults is run again whole once the fault is handled.
  const uint32_t access = write ? mmu::kAccessWrite : mmu::kAccessRead;
  for (uint64_t page = va & ~uint64_t{4095}; page < va + n; page += 4096) {
    const uint64_t at = page < va ? va : page;
    const pgtable::Walk w = vm.page_table().Translate(at);
    if (!w.mapped) {
      *fault_va = at;
      return mmu::FaultStatus(mmu::kTranslationFault0 + w.level, access, 0);
    }
    if (write && (w.pte & pgtable::kPteApRdonly)) {
      *fault_va = at;
      return mmu::FaultStatus(mmu::kPermFault0 + w.level, access, 0);
    }
  }
  uint8_t* bytes = static_cast<uint8_t*>(data);
  for (uint64_t done = 0; done < n;) {
    const vm::Vma* vma = vm.va_space().FindFirst(va + done, 1);
    if (vma == nullptr ||
        !vma->bo) {  // translated but no mapping: cannot happen; treat as unmapped
      *fault_va = va + done;
      return mmu::FaultStatus(mmu::kTranslationFault0 + 3, access, 0);
    }
    const uint64_t chunk = std::min<uint64_t>(n - done, vma->end() - (va + done));
    const uint64_t offset = vma->bo_offset + (va + done - vma->addr);
    if (write) {
      vma->bo->Write(offset, bytes + done, chunk);
      if (write_log_) write_log_->push_back({vma->bo, offset, chunk});
    } else {
      vma->bo->Read(offset, bytes + done, chunk);
    }
    done += chunk;
  }
  return 0;
}

void CsInterpreter::RingBufferEnter(Job& job, CsState& st) {
  job.cs_at = {job.cs_addr, job.cs_size, 0};
  job.cs_begun = true;
  const uint32_t x = shape_.cs_reg_count - shape_.unpreserved_cs_reg_count;
  if (shape_.unpreserved_cs_reg_count < 4 || x + 3 >= st.regs.size()) return;
  SetReg64(st.regs, x, job.cs_addr);                    // MOV48 rX:rX+1, cs.start
  st.regs[x + 2] = static_cast<uint32_t>(job.cs_size);  // MOV32 rX+2, cs.size
}

void CsInterpreter::RingBufferLeave(CsState& st) {
  const uint32_t x = shape_.cs_reg_count - shape_.unpreserved_cs_reg_count;
  if (shape_.unpreserved_cs_reg_count < 4 || x + 3 >= st.regs.size()) return;
  // MOV48 rX:rX+1, sync_addr — the twin keeps no kernel sync object BO: 0
  // stands for its address; MOV48 rX+2:rX+3, #1.
  SetReg64(st.regs, x, 0);
  SetReg64(st.regs, x + 2, 1);
}

CsSlice CsInterpreter::Run(Job& job) {
  CsState& st = job.group->queues[job.queue].cs;
  if (!job.cs_begun) RingBufferEnter(job, st);
  CsSlice out;
  for (int n = 0; n < kInstrPerSlice; ++n) {
    // The end of a CALLed buffer returns to its caller; the end of the
    // submitted stream ends the job.
    while (job.cs_at.pc >= job.cs_at.size && !job.cs_calls.empty()) {
      job.cs_at = job.cs_calls.back();
      job.cs_calls.pop_back();
      if (static_cast<int>(job.cs_calls.size()) < job.cs_handler_depth) job.cs_handler_depth = -1;
    }
    if (job.cs_at.pc >= job.cs_at.size) {
      RingBufferLeave(st);
      out.end = CsSlice::End::kDone;
      return out;
    }
    uint64_t w = 0, fault_va = 0;
    if (uint32_t status = Access(job, job.cs_at.addr + job.cs_at.pc, &w, 8, false, &fault_va)) {
      Faulted(status, fault_va, &out);
      return out;
    }
    uint64_t next = job.cs_at.pc + 8;
    out.cost_ns += kInstrNs;
    if (!Step(job, st, w, &next, &out)) return out;
    if (next > job.cs_at.size) {  // out of the buffer (a negative offset wraps too)
      Fatal(job, kInstrInvalidPc, "branch out of the stream", &out);
      return out;
    }
    job.cs_at.pc = next;
  }
  out.end = CsSlice::End::kYield;
  return out;
}

bool CsInterpreter::Faulted(uint32_t status, uint64_t va, CsSlice* out) {
  out->end = CsSlice::End::kFault;
  out->fault_status = status;
  out->fault_va = va;
  return false;
}

bool CsInterpreter::Fatal(const Job& job, uint32_t exception, absl::string_view what,
                          CsSlice* out) {
  out->end = CsSlice::End::kFatal;
  out->message = absl::StrCat(what, " at 0x", absl::Hex(job.cs_at.addr + job.cs_at.pc));
  out->exception = exception;
  return false;
}

bool CsInterpreter::Step(Job& job, CsState& st, uint64_t w, uint64_t* next, CsSlice* out) {
  CsRegs& r = st.regs;
  const uint32_t op = OpOf(w), d = DstReg(w), a = AddrReg(w);
  switch (op) {
    case kNop:
    case kReqResource:   // no contention for endpoints here
    case kErrorBarrier:  // the twin's queues keep no recoverable error state to clear
    case kTracePoint:    // panthor never enables CS instrumentation (CS_INSTR_CONFIG)
      return true;
    case kWait:
      // Every operation is complete before the next instruction: the
      // entries waited for are free.
      if (ProgressIncrement(w)) Progress(st, out);
      return true;
    case kMove48:
      SetReg64(r, d, w & 0xffffffffffff);
      return true;
    case kMove32:
      r[d] = static_cast<uint32_t>(w);
      return true;
    case kAddImm32:
      r[d] = r[a] + static_cast<uint32_t>(Imm32(w));
      return true;
    case kAddImm64:
      SetReg64(r, d, Reg64(r, a) + static_cast<uint64_t>(static_cast<int64_t>(Imm32(w))));
      return true;
    case kUmin32:
      r[d] = std::min(r[a], r[DataReg(w)]);
      return true;
    case kLoadMultiple:
    case kStoreMultiple:
      return LoadStoreMultiple(job, st, w, out);
    case kBranch:
      return Branch(job, st, w, next, out);
    case kCall:
    case kJump:
      return CallOrJump(job, st, w, next, out);
    case kFlushCache2:
      out->cost_ns += Cost(cost_->flush);
      mmu_->NoteCacheFlush();
      return true;
    case kSyncAdd32:
    case kSyncSet32:
    case kSyncAdd64:
    case kSyncSet64:
      return Sync(job, st, w, out);
    case kSyncWait32:
    case kSyncWait64:
      return SyncWait(job, st, w, out);
    case kStoreState:
      return StoreState(job, st, w, out);
    case kSetSbEntry:
      st.sb_endpoint = w & 0xf;
      st.sb_other = (w >> 4) & 0xf;
      return true;
    case kProgressWait:
      return ProgressWait(job, st, w, out);
    case kProgressStore:
      st.progress = Reg64(r, a);
      out->progressed = true;
      return true;
    case kProgressLoad:
      SetReg64(r, d, st.progress);
      return true;
    case kHeapSet:
      st.heap_ctx = Reg64(r, a);
      return true;
    case kHeapOperation: {
      // Counts on the heap context the queue HEAP_SET (none: nowhere).
      const uint32_t hop = (w >> 32) & 3;
      if (hop == 2) return Fatal(job, kCsInstrInvalid, "HEAP_OPERATION 2", out);
      heaps_->Count(job.group->vm->key(), st.heap_ctx, hop);
      return true;
    }
    case kFinishTiling:
      if (!CompletePasses(job, st, out)) return false;
      if (ProgressIncrement(w)) Progress(st, out);
      return true;
    case kFinishFragment: {
      // The pass's fragment work is done: its chunks (first [47:40], last
      // [39:32], the tiler context's completed top and bottom) go back to
      // the heap context's free chunks, and a tiler waiting for one goes on.
      const uint64_t vm_key = job.group->vm->key();
      if (heaps_->ReturnChunks(vm_key, st.heap_ctx, Reg64(r, a), Reg64(r, DataReg(w))))
        out->progressed = true;
      if ((w & 1) && heaps_->Count(vm_key, st.heap_ctx, kFragCompleted)) out->progressed = true;
      return true;
    }
    case kSetExceptionHandler:
      if ((w & 0xff) != kExceptionTilerOom)
        return Fatal(job, kCsInstrInvalid, "SET_EXCEPTION_HANDLER for no such exception", out);
      st.oom_handler = {Reg64(r, a), r[DataReg(w)] & ~7u, 0};
      return true;
    case kProtRegion:
      // The region must run in protected mode, which panthor never enters
      // (no PROTM support): the queue waits for it until the job timeout.
      out->end = CsSlice::End::kStuck;
      out->message = "PROT_REGION: panthor does not enter protected mode";
      return false;
    case kRunCompute:
    case kRunComputeIndirect:
    case kRunTiling:
    case kRunIdvs:
    case kRunFragment:
    case kRunFullscreen:
      return RunWork(job, st, w, next, out);
    default:
      return Fatal(job, kCsInstrInvalid, absl::StrCat("unknown CS instruction ", op), out);
  }
}

bool CsInterpreter::LoadStoreMultiple(Job& job, CsState& st, uint64_t w, CsSlice* out) {
  CsRegs& r = st.regs;
  const bool store = OpOf(w) == kStoreMultiple;
  const uint32_t d = DstReg(w);
  const uint64_t base = Reg64(r, AddrReg(w)) + static_cast<uint64_t>(Offset16(w));
  const uint32_t mask = WaitMask(w);  // the register mask shares [31:16]
  job.cs_touched_memory = true;
  out->stored |= store;
  for (uint32_t i = 0; i < 16; ++i) {
    if (!((mask >> i) & 1)) continue;
    uint32_t v = r[(d + i) & 0xff];
    uint64_t fault_va = 0;
    if (uint32_t status = Access(job, base + 4 * i, &v, 4, store, &fault_va))
      return Faulted(status, fault_va, out);
    if (!store) r[(d + i) & 0xff] = v;
  }
  out->cost_ns += Cost(cost_->gpu_page_access);
  return true;
}

bool CsInterpreter::Branch(Job& job, CsState& st, uint64_t w, uint64_t* next, CsSlice* out) {
  CsRegs& r = st.regs;
  const int32_t v = static_cast<int32_t>(r[AddrReg(w)]);
  const uint32_t cond = (w >> 28) & 0x7;
  if (cond == 7) return Fatal(job, kCsInstrInvalid, "BRANCH with condition 7", out);
  static constexpr bool (*kTaken[7])(int32_t) = {
      [](int32_t x) { return x <= 0; }, [](int32_t x) { return x > 0; },
      [](int32_t x) { return x == 0; }, [](int32_t x) { return x != 0; },
      [](int32_t x) { return x < 0; },  [](int32_t x) { return x >= 0; },
      [](int32_t) { return true; },
  };
  if (!kTaken[cond](v)) return true;
  *next = job.cs_at.pc + 8 + static_cast<uint64_t>(Offset16(w) * 8);
  if (*next > job.cs_at.pc) return true;
  return !Endless(job, st, out);
}

// Back at the same backward branch (or JUMP) with the same registers and
// no memory touched in between: it repeats forever. The executor skips to
// the job timeout rather than run 5 s of instructions.
bool CsInterpreter::Endless(Job& job, const CsState& st, CsSlice* out) {
  uint64_t h = 1469598103934665603ULL ^ job.cs_at.addr;
  for (uint32_t x : st.regs) h = (h ^ x) * 1099511628211ULL;
  if (!job.cs_touched_memory && job.cs_loop_pc == job.cs_at.pc && job.cs_loop_hash == h) {
    out->end = CsSlice::End::kEndlessLoop;
    return true;
  }
  job.cs_loop_pc = job.cs_at.pc;
  job.cs_loop_hash = h;
  job.cs_touched_memory = false;
  return false;
}

// CALL and JUMP (address pair [47:40], length register [39:32], in bytes):
// CALL saves where to return (its next instruction) and runs the buffer;
// JUMP runs it in place of the current one. A buffer's end returns.
bool CsInterpreter::CallOrJump(Job& job, CsState& st, uint64_t w, uint64_t* next, CsSlice* out) {
  const uint64_t addr = Reg64(st.regs, AddrReg(w));
  const uint64_t size = st.regs[DataReg(w)] & ~7u;
  if (addr & 7) return Fatal(job, kInstrInvalidPc, "CALL or JUMP to an unaligned buffer", out);
  if (OpOf(w) == kCall) {
    if (job.cs_calls.size() + 1 >= kCallFrames)
      return Fatal(job, kCsCallStackOverflow, "CALL past the firmware's call frames", out);
    job.cs_calls.push_back({job.cs_at.addr, job.cs_at.size, *next});
  } else if (Endless(job, st, out)) {  // a JUMP can loop as a branch can
    return false;
  }
  job.cs_at = {addr, size, 0};
  *next = 0;
  return true;
}

bool CsInterpreter::Sync(Job& job, CsState& st, uint64_t w, CsSlice* out) {
  const uint32_t op = OpOf(w);
  const bool wide = op == kSyncAdd64 || op == kSyncSet64;
  const bool add = op == kSyncAdd32 || op == kSyncAdd64;
  const uint32_t data = DataReg(w);
  const uint64_t addr = Reg64(st.regs, AddrReg(w));
  job.cs_touched_memory = true;
  uint64_t v = 0, fault_va = 0;
  for (bool write : {false, true}) {
    if (write) {
      const uint64_t operand = wide ? Reg64(st.regs, data) : st.regs[data];
      v = add ? v + operand : operand;
      if (!wide) v &= 0xffffffff;
    }
    if (uint32_t status = Access(job, addr, &v, wide ? 8 : 4, write, &fault_va))
      return Faulted(status, fault_va, out);
  }
  // Error propagation ([0]) writes the queue's error state after the value
  // (v10.xml: at address + 4, + 8 for the 64-bit ones): 0, no fault — a
  // queue of the twin with an error is fatal and runs nothing.
  if (w & 1) {
    uint32_t no_fault = 0;
    if (uint32_t status = Access(job, addr + (wide ? 8 : 4), &no_fault, 4, true, &fault_va))
      return Faulted(status, fault_va, out);
  }
  out->stored = true;
  out->cost_ns += Cost(cost_->gpu_page_access);
  return true;
}

// STORE_STATE (v10: offset [15:0] signed, state [33:32], address pair
// [47:40]): a 64-bit value at address + offset — the GPU timestamp, or the
// cycle count (both counting since 1.6's GLB_COUNTER_EN; the cycles at the
// top OPP's clock: modelled), the disjoint count and the error status (0:
// the twin's queues have no recoverable errors to count).
bool CsInterpreter::StoreState(Job& job, CsState& st, uint64_t w, CsSlice* out) {
  const uint64_t addr = Reg64(st.regs, AddrReg(w)) + static_cast<uint64_t>(Offset16(w));
  const unsigned __int128 now = clock_.sched->now_ns() + out->cost_ns;
  uint64_t v = 0;
  switch ((w >> 32) & 3) {
    case 0:  // Timestamp
      v = static_cast<uint64_t>(now * clock_.timestamp_hz / 1'000'000'000);
      break;
    case 1:  // Cycle count
      v = static_cast<uint64_t>(now * clock_.cycle_hz / 1'000'000'000);
      break;
    default:  // Disjoint count, Error status
      break;
  }
  job.cs_touched_memory = true;
  uint64_t fault_va = 0;
  if (uint32_t status = Access(job, addr, &v, 8, true, &fault_va))
    return Faulted(status, fault_va, out);
  out->stored = true;
  out->cost_ns += Cost(cost_->gpu_page_access);
  return true;
}

bool CsInterpreter::SyncWaitHolds(Job& job) {
  CsState& st = job.group->queues[job.queue].cs;
  uint64_t w = 0, v = 0, fault_va = 0;
  if (Access(job, job.cs_at.addr + job.cs_at.pc, &w, 8, false, &fault_va)) return true;
  if (OpOf(w) == kRunIdvs || OpOf(w) == kRunTiling)  // a tiler waiting for a chunk
    return heaps_->MayServe(job.group->vm->key(), st.heap_ctx);
  if (OpOf(w) == kProgressWait) {
    const uint32_t q = w & 0x1f;
    return q >= job.group->queues.size() ||
           job.group->queues[q].cs.progress >= Reg64(st.regs, AddrReg(w));
  }
  if (OpOf(w) != kSyncWait32 && OpOf(w) != kSyncWait64) return true;
  const uint64_t addr = Reg64(st.regs, AddrReg(w));
  if (Access(job, addr, &v, OpOf(w) == kSyncWait64 ? 8 : 4, false, &fault_va)) return true;
  return SyncWaitPasses(st, w, v);
}

bool CsInterpreter::SyncWait(Job& job, CsState& st, uint64_t w, CsSlice* out) {
  const uint32_t cond = (w >> 28) & 0xf;
  if (cond > 1) return Fatal(job, kCsInstrInvalid, "SYNC_WAIT with a condition not le/gt", out);
  const uint64_t addr = Reg64(st.regs, AddrReg(w));
  uint64_t v = 0, fault_va = 0;
  if (uint32_t status = Access(job, addr, &v, OpOf(w) == kSyncWait64 ? 8 : 4, false, &fault_va))
    return Faulted(status, fault_va, out);
  out->cost_ns += Cost(cost_->gpu_page_access);
  if (SyncWaitPasses(st, w, v)) return true;
  out->end = CsSlice::End::kSyncWait;  // the instruction runs again when woken
  return false;
}

// PROGRESS_WAIT (queue [4:0], value pair [47:40]): until that queue of the
// group has counted its progress up to the value (modelled on the field's
// name: v10.xml says no more).
bool CsInterpreter::ProgressWait(Job& job, CsState& st, uint64_t w, CsSlice* out) {
  const uint32_t q = w & 0x1f;
  if (q >= job.group->queues.size())
    return Fatal(job, kCsInstrInvalid, "PROGRESS_WAIT on no such queue", out);
  if (job.group->queues[q].cs.progress >= Reg64(st.regs, AddrReg(w))) return true;
  out->end = CsSlice::End::kSyncWait;
  return false;
}

// The RUN_* family: the work's footprint (work.h) becomes the job's access
// ranges, touched before the stream goes on; a descriptor read that faults
// runs the instruction again once the fault is handled. A draw's polygon
// list goes into the tiler heap; a fragment pass reads its tiler context's
// completed lists.
bool CsInterpreter::RunWork(Job& job, CsState& st, uint64_t w, uint64_t* next, CsSlice* out) {
  if (!shape_.footprints) {
    if (ProgressIncrement(w)) Progress(st, out);
    out->cost_ns += Cost(cost_->job_launch);
    return true;
  }
  job.cs_touched_memory = true;
  job.accesses.clear();
  job.access_index = 0;
  job.access_offset = 0;
  const uint32_t op = OpOf(w);
  Footprint f;
  JobMemory mem(job, [this, &job](uint64_t va, void* data, uint32_t n, uint64_t* fault_va) {
    return Access(job, va, data, n, false, fault_va);
  });
  Draw draw;
  uint64_t tiler_ctx = 0;
  uint32_t status = 0;
  switch (op) {
    case kRunCompute:
    case kRunComputeIndirect:
      status = ComputeFootprint(st.regs, w, shape_.work, mem, &f);
      break;
    case kRunIdvs:
    case kRunTiling:
      status = DrawFootprint(st.regs, w, shape_.work, mem, &f, &draw);
      break;
    case kRunFragment:
      status = FragmentFootprint(st.regs, w, shape_.work, mem, &f, &tiler_ctx);
      break;
    default:  // RUN_FULLSCREEN
      status = FullscreenFootprint(st.regs, w, shape_.work, mem, &f);
      break;
  }
  if (status) return Faulted(status, f.fault_va, out);
  job.accesses = std::move(f.ranges);
  if (draw.tiler_ctx && draw.polygon_bytes) {
    const int tiled = Tile(job, st, draw, next, out);
    if (tiled < 0) return false;  // fatal, waiting for chunks, or touching what fit first
    if (tiled > 0) {              // the exception handler runs next, after what fit
      if (job.accesses.empty()) return true;
      out->end = CsSlice::End::kWork;
      return false;
    }
  }
  if (tiler_ctx) {
    // The lists of the pass the tiler completed on this context.
    uint64_t top = 0, fault_va = 0;
    if (uint32_t st_read = Access(job, tiler_ctx + 40, &top, 8, false, &fault_va))
      return Faulted(st_read, fault_va, out);
    for (const heap::PolygonRange& r : heaps_->PassLists(job.group->vm->key(), st.heap_ctx, top)) {
      GpuAccess g;
      g.va = r.va;
      g.length_bytes = r.bytes;
      job.accesses.push_back(g);
    }
  }
  MergeRanges(&job.accesses);
  if (ProgressIncrement(w)) Progress(st, out);
  out->cost_ns += Cost(cost_->job_launch);
  if (job.accesses.empty()) return true;
  job.cs_at.pc += 8;  // the stream goes on after the work
  out->end = CsSlice::End::kWork;
  return false;
}

// A tiler OOM (the heap context has no free chunk and the kernel said
// -ENOMEM) leaves what fit written and hands the passes so far to the
// exception handler — incremental rendering: it renders them and returns
// their chunks, then the draw runs again for the rest — or, with no handler
// (or in it already), waits for a fragment pass elsewhere to return chunks.
// 0: tiled; 1: the handler runs next; -1: the slice ended.
int CsInterpreter::Tile(Job& job, CsState& st, const Draw& draw, uint64_t* next, CsSlice* out) {
  vm::Vm& vm = *job.group->vm;
  const uint64_t bytes = st.tile_pending ? st.tile_pending : draw.polygon_bytes;
  if (st.tile_pending && !heaps_->MayServe(vm.key(), st.heap_ctx)) {
    job.accesses.clear();  // an interrupted draw whose heap still has nothing: it waits
    out->end = CsSlice::End::kSyncWait;
    return -1;
  }
  heap::PolygonAlloc a = heaps_->AllocPolygons(vm, st.heap_ctx, draw.tiler_ctx, bytes);
  out->cost_ns += a.cost_ns;
  if (a.result == heap::PolygonAlloc::Result::kFatal) {
    // group_process_tiler_oom() marks the queue fatal (no CS exception).
    Fatal(job, 0, a.why, out);
    return -1;
  }
  if (!a.ranges.empty() && std::find(st.open_tilers.begin(), st.open_tilers.end(),
                                     draw.tiler_ctx) == st.open_tilers.end())
    st.open_tilers.push_back(draw.tiler_ctx);
  for (const heap::PolygonRange& r : a.ranges) {
    GpuAccess g;
    g.va = r.va;
    g.length_bytes = r.bytes;
    g.access = trace::ACCESS_WRITE;
    job.accesses.push_back(g);
  }
  st.tile_pending = a.remaining;
  if (a.result == heap::PolygonAlloc::Result::kOk) return 0;
  if (st.oom_handler.size == 0 || job.cs_handler_depth >= 0) {
    if (!a.ranges.empty()) {  // touch what fit; the draw runs again, and waits
      out->end = CsSlice::End::kWork;
      return -1;
    }
    job.accesses.clear();
    out->end = CsSlice::End::kSyncWait;  // looked at again when chunks come back
    return -1;
  }
  if (!CompletePasses(job, st, out)) return -1;
  job.cs_calls.push_back(job.cs_at);  // back to this RUN_* after the handler
  job.cs_handler_depth = static_cast<int>(job.cs_calls.size());
  job.cs_at = st.oom_handler;
  *next = 0;
  return 1;
}

bool CsInterpreter::CompletePasses(Job& job, CsState& st, CsSlice* out) {
  const uint64_t vm_key = job.group->vm->key();
  while (!st.open_tilers.empty()) {
    const uint64_t tiler = st.open_tilers.front();
    const auto [top, bottom] = heaps_->OpenPass(vm_key, st.heap_ctx, tiler);
    // "Tiler Context" words 10-13: completed top, completed bottom.
    uint64_t completed[2] = {top, bottom};
    uint64_t fault_va = 0;
    if (uint32_t status = Access(job, tiler + 40, completed, 16, true, &fault_va))
      return Faulted(status, fault_va, out);
    out->stored = true;
    heaps_->ClosePass(vm_key, st.heap_ctx, tiler);
    st.open_tilers.erase(st.open_tilers.begin());
  }
  return true;
}

}  // namespace faultlab::gpu
