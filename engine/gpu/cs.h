// CsInterpreter: a queue's command stream run instruction by instruction
// (docs/engine.md "Command streams"), every fetch, load and store translated
// through the job's VM page tables — so a store into an alloc-on-fault BO
// faults and gets populated like any GPU access.
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
//   23 SET_SB_ENTRY (endpoint [3:0], other [7:4]: kept; every operation
//      completes before the next instruction); 34 REQ_RESOURCE (no
//      contention here); 48 HEAP_SET (the tiler heap context, pair [47:40]);
//   40 STORE_STATE (offset [15:0] signed, state [33:32]: timestamp, cycle
//      count, disjoint count, error status; address pair [47:40]): 64 bits;
//   37 SYNC_ADD32 / 38 SYNC_SET32 / 51 SYNC_ADD64 / 52 SYNC_SET64 (data
//      register [39:32], address pair [47:40]);
//   39 SYNC_WAIT32 / 53 SYNC_WAIT64 (the same fields; v10's condition is one
//      bit, [28]: 0 waits until the value at the address is <= the register,
//      1 until it is > it, unsigned): the queue blocks until it holds — a
//      store or sync of another queue, or the CPU's write seen at a submit
//      or a live device's step, releases it; nothing releasing it, the job
//      times out.
// Anything else is CS_INSTR_INVALID (0x49): the queue turns fatal, the group
// FATAL_FAULT, and it takes no new submits; a branch out of the stream is
// INSTR_INVALID_PC (0x50). A stream still running after the job timeout of
// virtual time (drm_sched's; the profile's job_timeout_ms, panthor: 5 s) is
// killed.
//
// The interpreter runs a slice of a job's stream and says how it ended; the
// executor (executor.h) turns that into events in virtual time.
#ifndef FAULTLAB_ENGINE_GPU_CS_H_
#define FAULTLAB_ENGINE_GPU_CS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/prng.h"
#include "engine/gpu/job.h"
#include "engine/mmu/mmu.h"
#include "engine/profiles/profile.h"
#include "engine/sim/scheduler.h"

namespace faultlab::gpu {

// How a slice of a stream ended, `cost_ns` of virtual time after it began.
struct CsSlice {
  enum class End {
    kYield,        // the slice's instruction budget is spent: run again
    kDone,         // the stream ran to its end
    kFault,        // an access missed: `fault_status` at `fault_va`
    kFatal,        // the queue turns fatal: `message`, CS_FATAL's `exception`
    kEndlessLoop,  // an exact repeat with no memory touched: the job times out
    kSyncWait,     // a SYNC_WAIT's condition does not hold: the queue blocks on it
  };
  End end = End::kYield;
  uint64_t cost_ns = 0;
  uint32_t fault_status = 0;
  uint64_t fault_va = 0;
  std::string message;
  uint32_t exception = 0;
  bool stored = false;  // a store or sync instruction wrote memory in the slice
};

// A range of a BO the GPU stored to.
struct GpuWrite {
  std::weak_ptr<gem::Bo> bo;
  uint64_t offset;
  uint64_t length;
};

// What STORE_STATE reads: virtual time, as the GPU timestamp (the arch
// timer's rate) and as GPU cycles.
struct CsClock {
  const sim::Scheduler* sched;
  uint64_t timestamp_hz;
  uint64_t cycle_hz;
};

class CsInterpreter {
 public:
  // `mmu` counts the FLUSH_CACHE2s (its LATEST_FLUSH_ID).
  CsInterpreter(const profiles::CostModel* cost, Prng* prng, mmu::Mmu* mmu, CsClock clock)
      : cost_(cost), prng_(prng), mmu_(mmu), clock_(clock) {}

  // Runs a slice of `job`'s stream from its instruction pointer (the job
  // timeout is the executor's).
  CsSlice Run(Job& job);
  // Whether the SYNC_WAIT `job` is blocked on would pass now (true too when
  // looking would fault: running it again says what happens). Reads only.
  bool SyncWaitHolds(Job& job);
  // Every range stored to from now on is appended to `*log` (nullptr: none).
  void set_write_log(std::vector<GpuWrite>* log) { write_log_ = log; }

 private:
  // A memory access of `n` bytes at `va` through the VM's page tables: 0
  // when every page translates (then the bytes move), else the fault status
  // (and `*fault_va`).
  uint32_t Access(Job& job, uint64_t va, void* data, uint32_t n, bool write, uint64_t* fault_va);
  // One instruction at `job.cs_pc`: true to go on at `*next`; false when
  // it ended the slice (`*out` says how).
  bool Step(Job& job, uint64_t word, uint64_t* next, CsSlice* out);
  bool LoadStoreMultiple(Job& job, uint64_t word, CsSlice* out);
  bool Branch(Job& job, uint64_t word, uint64_t* next, CsSlice* out);
  bool Sync(Job& job, uint64_t word, CsSlice* out);
  bool SyncWait(Job& job, uint64_t word, CsSlice* out);
  bool StoreState(Job& job, uint64_t word, CsSlice* out);
  uint64_t Cost(const profiles::CostRange& c) { return c.Draw(*prng_); }

  const profiles::CostModel* cost_;
  Prng* prng_;
  mmu::Mmu* mmu_;
  CsClock clock_;
  std::vector<GpuWrite>* write_log_ = nullptr;
};

}  // namespace faultlab::gpu

#endif  // FAULTLAB_ENGINE_GPU_CS_H_
