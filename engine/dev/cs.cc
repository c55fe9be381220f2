// Command streams (docs/engine.md "Command streams"): GROUP_SUBMIT's stream
// run instruction by instruction on the job's queue, every fetch, load and
// store translated through the VM's page tables — so a store into an
// alloc-on-fault BO faults and gets populated like any GPU access.
//
// The subset and its encodings (spec 7.5; Mesa's v10 genxml): one 64-bit
// little-endian word per instruction, opcode in [63:56]; 32-bit registers,
// a 64-bit value is an even/odd pair.
//   0 NOP; 1 MOVE48 (d [55:48], imm [47:0]); 2 MOVE32 (d, imm [31:0]);
//   3 WAIT (nothing runs asynchronously here: a no-op);
//   16 ADD_IMMEDIATE32 / 17 ADD_IMMEDIATE64 (d [55:48], s [47:40], imm [31:0] signed);
//   20 LOAD_MULTIPLE / 21 STORE_MULTIPLE (offset [15:0] signed bytes, mask
//      [31:16]: bit i moves register base+i at address+offset+4i; address
//      pair [47:40]; base [55:48]);
//   22 BRANCH (offset [15:0] signed instructions from the next one,
//      condition [30:28] on register [47:40] as signed 32-bit: lequal,
//      greater, equal, nequal, less, gequal, always);
//   36 FLUSH_CACHE2 (a flush's cost);
//   37 SYNC_ADD32 / 38 SYNC_SET32 / 51 SYNC_ADD64 / 52 SYNC_SET64 (data
//      register [39:32], address pair [47:40]).
// Anything else is CS_INSTR_INVALID (0x49): the queue turns fatal, the
// group FATAL_FAULT, and it takes no new submits; a branch out of the
// stream is INSTR_INVALID_PC (0x50). A stream still running after the
// job timeout of virtual time (drm_sched's, panthor: 5 s) is killed.
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/dev/device.h"
#include "engine/mmu/mmu.h"
#include "engine/pgtable/pgtable.h"

namespace faultlab::dev {
namespace {

constexpr int kInstrPerRun = 256;        // instructions per scheduler event
constexpr uint64_t kInstrNs = 4;         // one CS instruction: a few cycles at ~1 GHz (modelled)
constexpr uint64_t kJobTimeoutNs = 5'000'000'000;  // JOB_TIMEOUT_MS in panthor_sched.c
constexpr uint32_t kCsInstrInvalid = 0x49;
constexpr uint32_t kInstrInvalidPc = 0x50;

uint64_t Reg64(const std::array<uint32_t, 256>& r, uint32_t i) {
  return r[i & 0xff] | static_cast<uint64_t>(r[(i + 1) & 0xff]) << 32;
}
void SetReg64(std::array<uint32_t, 256>& r, uint32_t i, uint64_t v) {
  r[i & 0xff] = static_cast<uint32_t>(v);
  r[(i + 1) & 0xff] = static_cast<uint32_t>(v >> 32);
}

}  // namespace

uint32_t Device::CsAccess(Job& job, uint64_t va, void* data, uint32_t n, bool write, uint64_t* fault_va) {
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
    if (vma == nullptr || !vma->bo) {  // translated but no mapping: cannot happen; treat as unmapped
      *fault_va = va + done;
      return mmu::FaultStatus(mmu::kTranslationFault0 + 3, access, 0);
    }
    const uint64_t chunk = std::min<uint64_t>(n - done, vma->end() - (va + done));
    const uint64_t offset = vma->bo_offset + (va + done - vma->addr);
    if (write) {
      vma->bo->Write(offset, bytes + done, chunk);
    } else {
      vma->bo->Read(offset, bytes + done, chunk);
    }
    done += chunk;
  }
  return 0;
}

void Device::RunCs(const std::shared_ptr<Job>& job) {
  if (job->cs_started_ns == 0) job->cs_started_ns = sched_.now_ns() + 1;
  std::array<uint32_t, 256>& r = job->cs_regs;
  uint64_t cost = 0;
  auto fault = [&](uint32_t status, uint64_t va) {
    sched_.After(cost, [this, job, status, va] { RaiseFault(job, status, va); });
  };
  auto fatal = [&](uint32_t exception, const std::string& what) {
    kernel_log_.push_back(absl::StrCat("panthor: group ", job->group->handle, " queue ", job->queue, ": ", what,
                                       " (CS_FATAL.EXCEPTION_TYPE 0x", absl::Hex(exception), ")"));
    sched_.After(cost, [this, job] { KillGroup(job->group, 1u << job->queue); });
  };
  if (sched_.now_ns() + 1 - job->cs_started_ns > kJobTimeoutNs) {
    fatal(0, "job timeout");
    return;
  }
  for (int n = 0; n < kInstrPerRun && job->cs_pc < job->cs_size; ++n) {
    uint64_t w = 0, fault_va = 0;
    if (uint32_t st = CsAccess(*job, job->cs_addr + job->cs_pc, &w, 8, false, &fault_va); st) {
      fault(st, fault_va);
      return;
    }
    const uint32_t op = static_cast<uint32_t>(w >> 56);
    const uint32_t d = (w >> 48) & 0xff, s = (w >> 40) & 0xff;
    const int32_t imm = static_cast<int32_t>(w & 0xffffffff);
    uint64_t next = job->cs_pc + 8;
    cost += kInstrNs;
    switch (op) {
      case 0:  // NOP
      case 3:  // WAIT
        break;
      case 1:  // MOVE48
        r[d] = static_cast<uint32_t>(w);
        r[(d + 1) & 0xff] = static_cast<uint32_t>((w >> 32) & 0xffff);
        break;
      case 2:  // MOVE32
        r[d] = static_cast<uint32_t>(w);
        break;
      case 16:  // ADD_IMMEDIATE32
        r[d] = r[s] + static_cast<uint32_t>(imm);
        break;
      case 17:  // ADD_IMMEDIATE64
        SetReg64(r, d, Reg64(r, s) + static_cast<uint64_t>(static_cast<int64_t>(imm)));
        break;
      case 20:    // LOAD_MULTIPLE
      case 21: {  // STORE_MULTIPLE
        const uint64_t base = Reg64(r, s) + static_cast<uint64_t>(static_cast<int64_t>(static_cast<int16_t>(w & 0xffff)));
        const uint32_t mask = (w >> 16) & 0xffff;
        job->cs_touched_memory = true;
        for (uint32_t i = 0; i < 16; ++i) {
          if (!((mask >> i) & 1)) continue;
          uint32_t v = r[(d + i) & 0xff];
          if (uint32_t st = CsAccess(*job, base + 4 * i, &v, 4, op == 21, &fault_va); st) {
            fault(st, fault_va);
            return;
          }
          if (op == 20) r[(d + i) & 0xff] = v;
        }
        cost += Cost(config_.profile.cost.gpu_page_access);
        break;
      }
      case 22: {  // BRANCH
        const int32_t v = static_cast<int32_t>(r[s]);
        const uint32_t cond = (w >> 28) & 0x7;
        const bool take = cond == 0 ? v <= 0 : cond == 1 ? v > 0 : cond == 2 ? v == 0 : cond == 3 ? v != 0
                        : cond == 4 ? v < 0 : cond == 5 ? v >= 0 : cond == 6;
        if (cond == 7) {
          fatal(kCsInstrInvalid, absl::StrCat("BRANCH with condition 7 at 0x", absl::Hex(job->cs_addr + job->cs_pc)));
          return;
        }
        if (take) next = job->cs_pc + 8 + static_cast<uint64_t>(static_cast<int64_t>(static_cast<int16_t>(w & 0xffff)) * 8);
        if (take && next <= job->cs_pc) {
          // Back at the same backward branch with the same registers and no
          // memory touched in between: it repeats forever. Skip to the job
          // timeout rather than run 5 s of instructions.
          uint64_t h = 1469598103934665603ULL;
          for (uint32_t x : r) h = (h ^ x) * 1099511628211ULL;
          if (!job->cs_touched_memory && job->cs_loop_pc == job->cs_pc && job->cs_loop_hash == h) {
            const uint64_t deadline = job->cs_started_ns - 1 + kJobTimeoutNs;
            sched_.At(std::max(deadline, sched_.now_ns() + cost), [this, job] {
              if (job->finished) return;
              kernel_log_.push_back(absl::StrCat("panthor: group ", job->group->handle, " queue ", job->queue,
                                                 ": job timeout (an endless loop)"));
              KillGroup(job->group, 1u << job->queue);
            });
            return;
          }
          job->cs_loop_pc = job->cs_pc;
          job->cs_loop_hash = h;
          job->cs_touched_memory = false;
        }
        break;
      }
      case 36:  // FLUSH_CACHE2
        cost += Cost(config_.profile.cost.flush);
        break;
      case 37: case 38: case 51: case 52: {  // SYNC_ADD32, SYNC_SET32, SYNC_ADD64, SYNC_SET64
        const bool wide = op >= 51, add = op == 37 || op == 51;
        const uint32_t data = (w >> 32) & 0xff;
        const uint64_t addr = Reg64(r, s);
        job->cs_touched_memory = true;
        uint64_t v = 0;
        if (uint32_t st = CsAccess(*job, addr, &v, wide ? 8 : 4, false, &fault_va); st) {
          fault(st, fault_va);
          return;
        }
        const uint64_t operand = wide ? Reg64(r, data) : r[data];
        v = add ? v + operand : operand;
        if (!wide) v &= 0xffffffff;
        if (uint32_t st = CsAccess(*job, addr, &v, wide ? 8 : 4, true, &fault_va); st) {
          fault(st, fault_va);
          return;
        }
        cost += Cost(config_.profile.cost.gpu_page_access);
        break;
      }
      default:
        fatal(kCsInstrInvalid, absl::StrCat("unknown CS instruction ", op, " at 0x",
                                            absl::Hex(job->cs_addr + job->cs_pc)));
        return;
    }
    if (next > job->cs_size) {  // out of the stream (a negative offset wraps too)
      fatal(kInstrInvalidPc, absl::StrCat("branch out of the stream at 0x", absl::Hex(job->cs_addr + job->cs_pc)));
      return;
    }
    job->cs_pc = next;
  }
  if (job->cs_pc >= job->cs_size) {
    sched_.After(cost, [this, job] { FinishJob(job, 0); });
  } else {
    sched_.After(cost, [this, job] { RunJob(job); });
  }
}

}  // namespace faultlab::dev
