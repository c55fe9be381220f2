// CsInterpreter: a queue's command stream run instruction by instruction
// (docs/engine.md "Command streams"), every fetch, load and store translated
// through the job's VM page tables — so a store into an alloc-on-fault BO
// faults and gets populated like any GPU access.
//
// The whole v10 instruction set (cs_isa.h names every opcode and field):
// MOVE48/32, ADD_IMMEDIATE32/64, UMIN32, LOAD/STORE_MULTIPLE, BRANCH, CALL
// and JUMP (a return stack of the firmware's depth), the SYNC_ADD/SET/WAIT
// 32/64 family, FLUSH_CACHE2, STORE_STATE, WAIT and SET_SB_ENTRY, the
// progress counter (PROGRESS_WAIT/STORE/LOAD), REQ_RESOURCE, the tiler heap
// (HEAP_SET, HEAP_OPERATION, FINISH_TILING, FINISH_FRAGMENT,
// SET_EXCEPTION_HANDLER), the RUN_* family (work.h: a RUN_COMPUTE's
// footprint through its descriptors), ERROR_BARRIER, PROT_REGION and
// TRACE_POINT. Each instruction's modelled effect and cost is in
// docs/engine.md's table. The twin's endpoints finish a job's work in
// order: a RUN_*'s work is done before the next instruction runs, so every
// scoreboard entry is free when a WAIT or a wait mask looks at it.
//
// Anything else is CS_INSTR_INVALID (0x49): the queue turns fatal, the group
// FATAL_FAULT, and it takes no new submits; a branch out of its buffer or a
// CALL/JUMP to an unaligned one is INSTR_INVALID_PC (0x50); a CALL past the
// firmware's frames CS_CALL_STACK_OVERFLOW (0x4a). A stream still running
// after the job timeout of virtual time (drm_sched's; the profile's
// job_timeout_ms, panthor: 5 s) is killed.
//
// Registers and the queue's settings (CsState) live on from one job on a
// queue to the next, as the firmware keeps them; the kernel's ring buffer
// writes its unpreserved registers around each job (queue_run_job()).
//
// The interpreter runs a slice of a job's stream and says how it ended; the
// executor (executor.h) turns that into events in virtual time.
#ifndef FAULTLAB_ENGINE_GPU_CS_H_
#define FAULTLAB_ENGINE_GPU_CS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/base/prng.h"
#include "engine/gpu/job.h"
#include "engine/gpu/work.h"
#include "engine/heap/tiler_heaps.h"
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
    kSyncWait,     // a SYNC_WAIT or PROGRESS_WAIT does not hold: the queue blocks on it
    kWork,         // a RUN_*'s work: the executor touches the job's access ranges, then runs on
    kStuck,        // nothing can let the stream go on (`message`): the job times out
  };
  End end = End::kYield;
  uint64_t cost_ns = 0;
  uint32_t fault_status = 0;
  uint64_t fault_va = 0;
  std::string message;
  uint32_t exception = 0;
  bool stored = false;      // a store or sync instruction wrote memory in the slice
  bool progressed = false;  // the queue's progress counter moved (PROGRESS_WAITs look again)
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

// The profile's command-stream interface and cores.
struct CsShape {
  uint32_t cs_reg_count = 96;
  uint32_t unpreserved_cs_reg_count = 4;
  WorkShape work;
  // false: a RUN_* instruction costs its launch and touches nothing (its
  // accesses come from a board's recorded faults instead).
  bool footprints = true;
};

class CsInterpreter {
 public:
  // `mmu` counts the FLUSH_CACHE2s (its LATEST_FLUSH_ID).
  // `heaps` keeps the tiler heaps the draws' polygon lists fill.
  CsInterpreter(const profiles::CostModel* cost, Prng* prng, mmu::Mmu* mmu, heap::TilerHeaps* heaps,
                CsClock clock, CsShape shape)
      : cost_(cost), prng_(prng), mmu_(mmu), heaps_(heaps), clock_(clock), shape_(shape) {}

  // Runs a slice of `job`'s stream from its instruction pointer (the job
  // timeout is the executor's).
  CsSlice Run(Job& job);
  // Whether the SYNC_WAIT or PROGRESS_WAIT `job` is blocked on would pass
  // now (true too when looking would fault: running it again says what
  // happens). Reads only.
  bool SyncWaitHolds(Job& job);
  // Every range stored to from now on is appended to `*log` (nullptr: none).
  void set_write_log(std::vector<GpuWrite>* log) { write_log_ = log; }

 private:
  // A memory access of `n` bytes at `va` through the VM's page tables: 0
  // when every page translates (then the bytes move), else the fault status
  // (and `*fault_va`).
  uint32_t Access(Job& job, uint64_t va, void* data, uint32_t n, bool write, uint64_t* fault_va);
  // One instruction `w` at `job.cs_at`: true to go on at `*next` (a byte
  // offset in the buffer then running); false when it ended the slice
  // (`*out` says how).
  bool Step(Job& job, CsState& st, uint64_t w, uint64_t* next, CsSlice* out);
  bool LoadStoreMultiple(Job& job, CsState& st, uint64_t w, CsSlice* out);
  bool Branch(Job& job, CsState& st, uint64_t w, uint64_t* next, CsSlice* out);
  bool CallOrJump(Job& job, CsState& st, uint64_t w, uint64_t* next, CsSlice* out);
  // A loop that can never end (kEndlessLoop in `*out`): true.
  bool Endless(Job& job, const CsState& st, CsSlice* out);
  bool Sync(Job& job, CsState& st, uint64_t w, CsSlice* out);
  bool SyncWait(Job& job, CsState& st, uint64_t w, CsSlice* out);
  bool ProgressWait(Job& job, CsState& st, uint64_t w, CsSlice* out);
  bool StoreState(Job& job, CsState& st, uint64_t w, CsSlice* out);
  bool RunWork(Job& job, CsState& st, uint64_t w, uint64_t* next, CsSlice* out);
  // A draw's polygon list into the tiler heap: its ranges join the job's
  // (0), the exception handler runs first (1), or the slice ended (-1).
  int Tile(Job& job, CsState& st, const Draw& draw, uint64_t* next, CsSlice* out);
  // The tiler completes the passes open on the queue's tiler contexts: it
  // writes each one's first and last chunk as the context's completed top
  // and bottom (FINISH_TILING; a tiler OOM before the handler runs).
  bool CompletePasses(Job& job, CsState& st, CsSlice* out);
  // An access that faulted ends the slice with its fault.
  bool Faulted(uint32_t status, uint64_t va, CsSlice* out);
  bool Fatal(const Job& job, uint32_t exception, absl::string_view what, CsSlice* out);
  // The kernel's ring buffer around a job (queue_run_job()): before, its
  // unpreserved registers hold the stream's address and size; after, the
  // sync object's address and the 1 it adds.
  void RingBufferEnter(Job& job, CsState& st);
  void RingBufferLeave(CsState& st);
  uint64_t Cost(const profiles::CostRange& c) { return c.Draw(*prng_); }

  const profiles::CostModel* cost_;
  Prng* prng_;
  mmu::Mmu* mmu_;
  heap::TilerHeaps* heaps_;
  CsClock clock_;
  CsShape shape_;
  std::vector<GpuWrite>* write_log_ = nullptr;
};

}  // namespace faultlab::gpu

#endif  // FAULTLAB_ENGINE_GPU_CS_H_
