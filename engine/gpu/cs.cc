#include "engine/gpu/cs.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/mmu/mmu.h"
#include "engine/pgtable/pgtable.h"

namespace faultlab::gpu {
namespace {

constexpr int kInstrPerSlice = 256;  // instructions per scheduler event
constexpr uint64_t kInstrNs = 4;     // one CS instruction: a few cycles at ~1 GHz (modelled)
constexpr uint32_t kCsInstrInvalid = 0x49;
constexpr uint32_t kInstrInvalidPc = 0x50;

// Opcodes ([63:56]).
enum : uint32_t {
  kNop = 0,
  kMove48 = 1,
  kMove32 = 2,
  kWait = 3,
  kAddImm32 = 16,
  kAddImm64 = 17,
  kLoadMultiple = 20,
  kStoreMultiple = 21,
  kBranch = 22,
  kSetSbEntry = 23,
  kReqResource = 34,
  kFlushCache2 = 36,
  kSyncAdd32 = 37,
  kSyncSet32 = 38,
  kSyncWait32 = 39,
  kStoreState = 40,
  kSyncAdd64 = 51,
  kSyncSet64 = 52,
  kSyncWait64 = 53,
  kHeapSet = 48,
};

uint64_t Reg64(const CsRegs& r, uint32_t i) {
  return r[i & 0xff] | static_cast<uint64_t>(r[(i + 1) & 0xff]) << 32;
}
void SetReg64(CsRegs& r, uint32_t i, uint64_t v) {
  r[i & 0xff] = static_cast<uint32_t>(v);
  r[(i + 1) & 0xff] = static_cast<uint32_t>(v >> 32);
}
int64_t Imm16(uint64_t w) { return static_cast<int16_t>(w & 0xffff); }

CsSlice Fault(uint32_t status, uint64_t va) {
  CsSlice s;
  s.end = CsSlice::End::kFault;
  s.fault_status = status;
  s.fault_va = va;
  return s;
}

// A SYNC_WAIT's condition on the value `v` read at its address.
bool SyncWaitPasses(const Job& job, uint64_t w, uint64_t v) {
  const bool wide = (w >> 56) == kSyncWait64;
  const uint32_t data = (w >> 32) & 0xff;
  const bool greater = (w >> 28) & 1;
  const uint64_t ref = wide ? Reg64(job.cs_regs, data) : job.cs_regs[data];
  return greater ? v > ref : v <= ref;
}

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

CsSlice CsInterpreter::Run(Job& job) {
  CsSlice out;
  for (int n = 0; n < kInstrPerSlice && job.cs_pc < job.cs_size; ++n) {
    uint64_t w = 0, fault_va = 0;
    if (uint32_t st = Access(job, job.cs_addr + job.cs_pc, &w, 8, false, &fault_va); st) {
      CsSlice f = Fault(st, fault_va);
      f.cost_ns = out.cost_ns;
      return f;
    }
    uint64_t next = job.cs_pc + 8;
    out.cost_ns += kInstrNs;
    if (!Step(job, w, &next, &out)) return out;
    if (next > job.cs_size) {  // out of the stream (a negative offset wraps too)
      out.end = CsSlice::End::kFatal;
      out.message =
          absl::StrCat("branch out of the stream at 0x", absl::Hex(job.cs_addr + job.cs_pc));
      out.exception = kInstrInvalidPc;
      return out;
    }
    job.cs_pc = next;
  }
  out.end = job.cs_pc >= job.cs_size ? CsSlice::End::kDone : CsSlice::End::kYield;
  return out;
}

bool CsInterpreter::Step(Job& job, uint64_t w, uint64_t* next, CsSlice* out) {
  CsRegs& r = job.cs_regs;
  const uint32_t op = static_cast<uint32_t>(w >> 56);
  const uint32_t d = (w >> 48) & 0xff, s = (w >> 40) & 0xff;
  const int32_t imm = static_cast<int32_t>(w & 0xffffffff);
  switch (op) {
    case kNop:
    case kWait:
      return true;
    case kMove48:
      r[d] = static_cast<uint32_t>(w);
      r[(d + 1) & 0xff] = static_cast<uint32_t>((w >> 32) & 0xffff);
      return true;
    case kMove32:
      r[d] = static_cast<uint32_t>(w);
      return true;
    case kAddImm32:
      r[d] = r[s] + static_cast<uint32_t>(imm);
      return true;
    case kAddImm64:
      SetReg64(r, d, Reg64(r, s) + static_cast<uint64_t>(static_cast<int64_t>(imm)));
      return true;
    case kLoadMultiple:
    case kStoreMultiple:
      return LoadStoreMultiple(job, w, out);
    case kBranch:
      return Branch(job, w, next, out);
    case kFlushCache2:
      out->cost_ns += Cost(cost_->flush);
      mmu_->NoteCacheFlush();
      return true;
    case kSyncAdd32:
    case kSyncSet32:
    case kSyncAdd64:
    case kSyncSet64:
      return Sync(job, w, out);
    case kSyncWait32:
    case kSyncWait64:
      return SyncWait(job, w, out);
    case kStoreState:
      return StoreState(job, w, out);
    case kSetSbEntry:
      // The scoreboard entries later asynchronous work signals: every
      // operation here completes before the next instruction, so waits on
      // them are already satisfied; the entries are kept for what names them.
      job.cs_sb_endpoint = w & 0xf;
      job.cs_sb_other = (w >> 4) & 0xf;
      return true;
    case kReqResource:
      // Compute/fragment/tiler/IDVS resources for the RUN_* that follow:
      // the twin's GPU has no contention for them.
      return true;
    case kHeapSet:
      // The tiler heap context (its address pair [47:40]) that tiling and
      // HEAP_OPERATION use.
      job.cs_heap_ctx = Reg64(r, (w >> 40) & 0xff);
      return true;
    default:
      out->end = CsSlice::End::kFatal;
      out->message =
          absl::StrCat("unknown CS instruction ", op, " at 0x", absl::Hex(job.cs_addr + job.cs_pc));
      out->exception = kCsInstrInvalid;
      return false;
  }
}

bool CsInterpreter::LoadStoreMultiple(Job& job, uint64_t w, CsSlice* out) {
  CsRegs& r = job.cs_regs;
  const bool store = (w >> 56) == kStoreMultiple;
  const uint32_t d = (w >> 48) & 0xff, s = (w >> 40) & 0xff;
  const uint64_t base = Reg64(r, s) + static_cast<uint64_t>(Imm16(w));
  const uint32_t mask = (w >> 16) & 0xffff;
  job.cs_touched_memory = true;
  out->stored |= store;
  for (uint32_t i = 0; i < 16; ++i) {
    if (!((mask >> i) & 1)) continue;
    uint32_t v = r[(d + i) & 0xff];
    uint64_t fault_va = 0;
    if (uint32_t st = Access(job, base + 4 * i, &v, 4, store, &fault_va); st) {
      const uint64_t cost = out->cost_ns;
      *out = Fault(st, fault_va);
      out->cost_ns = cost;
      return false;
    }
    if (!store) r[(d + i) & 0xff] = v;
  }
  out->cost_ns += Cost(cost_->gpu_page_access);
  return true;
}

bool CsInterpreter::Branch(Job& job, uint64_t w, uint64_t* next, CsSlice* out) {
  CsRegs& r = job.cs_regs;
  const int32_t v = static_cast<int32_t>(r[(w >> 40) & 0xff]);
  const uint32_t cond = (w >> 28) & 0x7;
  if (cond == 7) {
    out->end = CsSlice::End::kFatal;
    out->message =
        absl::StrCat("BRANCH with condition 7 at 0x", absl::Hex(job.cs_addr + job.cs_pc));
    out->exception = kCsInstrInvalid;
    return false;
  }
  static constexpr bool (*kTaken[7])(int32_t) = {
      [](int32_t x) { return x <= 0; }, [](int32_t x) { return x > 0; },
      [](int32_t x) { return x == 0; }, [](int32_t x) { return x != 0; },
      [](int32_t x) { return x < 0; },  [](int32_t x) { return x >= 0; },
      [](int32_t) { return true; },
  };
  if (!kTaken[cond](v)) return true;
  *next = job.cs_pc + 8 + static_cast<uint64_t>(Imm16(w) * 8);
  if (*next > job.cs_pc) return true;
  // Back at the same backward branch with the same registers and no memory
  // touched in between: it repeats forever. The executor skips to the job
  // timeout rather than run 5 s of instructions.
  uint64_t h = 1469598103934665603ULL;
  for (uint32_t x : r) h = (h ^ x) * 1099511628211ULL;
  if (!job.cs_touched_memory && job.cs_loop_pc == job.cs_pc && job.cs_loop_hash == h) {
    out->end = CsSlice::End::kEndlessLoop;
    return false;
  }
  job.cs_loop_pc = job.cs_pc;
  job.cs_loop_hash = h;
  job.cs_touched_memory = false;
  return true;
}

bool CsInterpreter::Sync(Job& job, uint64_t w, CsSlice* out) {
  const uint32_t op = static_cast<uint32_t>(w >> 56);
  const bool wide = op == kSyncAdd64 || op == kSyncSet64;
  const bool add = op == kSyncAdd32 || op == kSyncAdd64;
  const uint32_t data = (w >> 32) & 0xff;
  const uint64_t addr = Reg64(job.cs_regs, (w >> 40) & 0xff);
  job.cs_touched_memory = true;
  uint64_t v = 0, fault_va = 0;
  for (bool write : {false, true}) {
    if (write) {
      const uint64_t operand = wide ? Reg64(job.cs_regs, data) : job.cs_regs[data];
      v = add ? v + operand : operand;
      if (!wide) v &= 0xffffffff;
    }
    if (uint32_t st = Access(job, addr, &v, wide ? 8 : 4, write, &fault_va); st) {
      const uint64_t cost = out->cost_ns;
      *out = Fault(st, fault_va);
      out->cost_ns = cost;
      return false;
    }
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
bool CsInterpreter::StoreState(Job& job, uint64_t w, CsSlice* out) {
  const uint64_t addr = Reg64(job.cs_regs, (w >> 40) & 0xff) + static_cast<uint64_t>(Imm16(w));
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
  if (uint32_t st = Access(job, addr, &v, 8, true, &fault_va); st) {
    const uint64_t cost = out->cost_ns;
    *out = Fault(st, fault_va);
    out->cost_ns = cost;
    return false;
  }
  out->stored = true;
  out->cost_ns += Cost(cost_->gpu_page_access);
  return true;
}

bool CsInterpreter::SyncWaitHolds(Job& job) {
  uint64_t w = 0, v = 0, fault_va = 0;
  if (Access(job, job.cs_addr + job.cs_pc, &w, 8, false, &fault_va)) return true;
  if ((w >> 56) != kSyncWait32 && (w >> 56) != kSyncWait64) return true;
  const uint64_t addr = Reg64(job.cs_regs, (w >> 40) & 0xff);
  if (Access(job, addr, &v, (w >> 56) == kSyncWait64 ? 8 : 4, false, &fault_va)) return true;
  return SyncWaitPasses(job, w, v);
}

bool CsInterpreter::SyncWait(Job& job, uint64_t w, CsSlice* out) {
  const bool wide = (w >> 56) == kSyncWait64;
  const uint64_t addr = Reg64(job.cs_regs, (w >> 40) & 0xff);
  uint64_t v = 0, fault_va = 0;
  if (uint32_t st = Access(job, addr, &v, wide ? 8 : 4, false, &fault_va); st) {
    const uint64_t cost = out->cost_ns;
    *out = Fault(st, fault_va);
    out->cost_ns = cost;
    return false;
  }
  out->cost_ns += Cost(cost_->gpu_page_access);
  if (SyncWaitPasses(job, w, v)) return true;
  out->end = CsSlice::End::kSyncWait;  // the instruction runs again when woken
  return false;
}

}  // namespace faultlab::gpu
