// Groups, queues and jobs as panthor_sched.c keeps them (struct
// panthor_group, panthor_queue, panthor_job), with what the emulated GPU
// needs to run a job: its access ranges or its command stream, and where it
// stands.
#ifndef FAULTLAB_ENGINE_GPU_JOB_H_
#define FAULTLAB_ENGINE_GPU_JOB_H_

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "engine/sync/syncobj.h"
#include "engine/vm/vm.h"
#include "proto/trace.pb.h"

namespace faultlab::gpu {

// One range a GPU job touches: `length_bytes` from `va`, every `stride_bytes`
// (0: every page). A tiler-OOM entry instead asks the firmware to grow the
// tiler heap whose context is at `va`.
struct GpuAccess {
  uint64_t va = 0;
  uint64_t length_bytes = 0;
  uint64_t stride_bytes = 0;
  trace::AccessType access = trace::ACCESS_READ;
  bool tiler_oom = false;
};

// A CS register file: 32-bit registers; a 64-bit value is an even/odd pair
// (spec 7.5).
using CsRegs = std::array<uint32_t, 256>;

// Where a stream runs: a buffer of `size` bytes at `addr`, the next
// instruction at byte `pc` of it.
struct CsFrame {
  uint64_t addr = 0;
  uint64_t size = 0;
  uint64_t pc = 0;
};

// A command stream interface's state that outlives a job: the firmware
// keeps a queue's registers and settings from one job on its ring buffer to
// the next (Mesa's panvk sets its queue context register once, in its first
// stream, and every later stream reads it).
struct CsState {
  CsRegs regs{};
  // SET_SB_ENTRY's scoreboard entries: endpoint tasks, other async work.
  uint8_t sb_endpoint = 0;
  uint8_t sb_other = 0;
  // HEAP_SET's tiler heap context (its counters are the heap's:
  // heap::HeapCounters).
  uint64_t heap_ctx = 0;
  // SET_EXCEPTION_HANDLER's tiler-OOM handler stream (size 0: none).
  CsFrame oom_handler;
  // The tiler contexts this queue's draws opened a pass on, in order:
  // FINISH_TILING (or a tiler OOM handed to the handler) completes them.
  std::vector<uint64_t> open_tilers;
  // A draw a tiler OOM interrupted: the polygon-list bytes it still has to
  // write when it runs again (0: none).
  uint64_t tile_pending = 0;
  // The progress counter: work with a progress increment counts it up,
  // PROGRESS_LOAD/STORE read and set it, PROGRESS_WAIT waits on it.
  uint64_t progress = 0;
};

struct Group;

// struct panthor_job: one submission to one queue. Created by GROUP_SUBMIT
// (a command stream) or an access-range submission; owned by its queue from
// queueing to its end, and by whatever waits on `done`.
struct Job {
  // Device-wide submission order, from 1 (the trace's job ids). Set when queued.
  uint64_t seq = 0;
  std::shared_ptr<Group> group;
  uint32_t queue = 0;

  // Access ranges — an access-range job's (`cs_size` 0), or the footprint
  // of the RUN_* a stream job is doing — and the position reached in them:
  // range `access_index`, byte `access_offset` within it.
  std::vector<GpuAccess> accesses;
  size_t access_index = 0;
  uint64_t access_offset = 0;

  // The fences the job waits for, the syncobjs (and points; 0: binary) it
  // signals, and its own fence, signalled with 0 or -errno at its end.
  std::vector<std::shared_ptr<sync::Fence>> waits;
  std::vector<std::pair<sync::Syncobj*, uint64_t>> signals;
  std::shared_ptr<sync::Fence> done = std::make_shared<sync::Fence>();

  // A command stream (GROUP_SUBMIT with a non-empty stream; docs/engine.md
  // "Command streams"): its GPU VA and size as submitted.
  uint64_t cs_addr = 0;
  uint64_t cs_size = 0;
  // The buffer running (the submitted stream, or one CALLed or JUMPed to)
  // and the frames CALLs and an exception handler return to. The kernel's
  // ring buffer CALLs the submitted stream, so it runs one frame deep.
  CsFrame cs_at;
  std::vector<CsFrame> cs_calls;
  bool cs_begun = false;  // cs_at holds the submitted stream
  // cs_calls' size when the exception handler was entered (its return
  // frame is the last then); -1: not in the handler.
  int cs_handler_depth = -1;
  // Virtual time + 1 when the job first ran on the GPU (0: not yet): the
  // job timeout counts from there, stalls included (drm_sched's timeout
  // covers the whole job). Set and checked by Executor::Run.
  uint64_t run_started_ns = 0;
  bool timeout_armed = false;  // its job-timeout event is scheduled (ArmTimeout)
  // The last backward branch taken: where, the registers' hash then, and
  // whether memory was touched since (an exact repeat with none is a loop
  // that can never end). ~0: none yet.
  uint64_t cs_loop_pc = ~uint64_t{0};
  uint64_t cs_loop_hash = 0;
  bool cs_touched_memory = false;

  // The AS the job runs in while started (its VM active there); -1 before
  // it starts and after it ends.
  int as = -1;
  bool deps_ready = false;  // every wait fence signalled
  bool started = false;     // StartJob ran (it may still wait for an AS)
  bool finished = false;    // ended, `done` signalled; nothing runs it again
};

// struct panthor_queue: jobs run one at a time, in submission order.
struct Queue {
  uint8_t priority = 0;
  uint32_t ringbuf_size = 0;
  CsState cs;
  // Front: running or next; a job leaves when it ends.
  std::deque<std::shared_ptr<Job>> jobs;
  bool running = false;  // the front job has started
};

// struct panthor_group: queues on one VM, scheduled as a unit.
struct Group {
  uint32_t handle = 0;  // in its file's group pool
  uint32_t file = 0;    // the owning file's id
  std::shared_ptr<vm::Vm> vm;
  uint8_t priority = 0;
  std::vector<Queue> queues;
  uint32_t state = 0;         // DRM_PANTHOR_GROUP_STATE_*: only ever gains bits
  uint32_t fatal_queues = 0;  // a bit per queue that hit a fatal error
  bool destroyed = false;     // GROUP_DESTROY or its file closed
  uint64_t engine_ns = 0;     // its jobs' time on the GPU, start to end (fdinfo)
  // group_can_run().
  bool CanRun() const { return !destroyed && fatal_queues == 0 && !(state & 1u); }
};

}  // namespace faultlab::gpu

#endif  // FAULTLAB_ENGINE_GPU_JOB_H_
