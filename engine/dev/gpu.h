// The GPU side of the device model: fault-path policies, groups, queues and
// jobs (access ranges run through the VM's page tables), tiler heaps.
#ifndef FAULTLAB_ENGINE_DEV_GPU_H_
#define FAULTLAB_ENGINE_DEV_GPU_H_

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/sync/syncobj.h"
#include "engine/vm/vm.h"
#include "proto/trace.pb.h"

namespace faultlab::dev {

// Fault-path allocation policies (DESIGN "Memory model").
enum class FaultPolicyKind {
  kNoretry,    // the posted series: __GFP_NORETRY | __GFP_NOWARN, no reclaim at all
  kNowait,     // GFP_NOWAIT: no direct reclaim, but kswapd is woken
  kPool,       // a reserve refilled with blocking allocation at each submit
  kDummyPage,  // on failure map a reserve page, keep the context alive: "degraded"
};

struct FaultPolicy {
  FaultPolicyKind kind = FaultPolicyKind::kNoretry;
  uint64_t pool_pages = 0;  // kPool
};

// "noretry", "nowait", "pool:<pages>", "dummy-page".
std::optional<FaultPolicy> ParseFaultPolicy(absl::string_view s);
std::string FaultPolicyName(const FaultPolicy& p);

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

struct Group;

struct Job {
  uint64_t seq = 0;
  std::shared_ptr<Group> group;
  uint32_t queue = 0;
  std::vector<GpuAccess> accesses;
  size_t access_index = 0;
  uint64_t access_offset = 0;
  std::vector<std::shared_ptr<sync::Fence>> waits;
  std::vector<std::pair<sync::Syncobj*, uint64_t>> signals;
  std::shared_ptr<sync::Fence> done = std::make_shared<sync::Fence>();
  // A command stream (GROUP_SUBMIT with a non-empty stream; docs/engine.md
  // "Command streams"): its GPU VA and size, the instruction pointer (byte
  // offset) and the CS registers (32 bits each; a 64-bit value is an
  // even/odd pair, spec 7.5).
  uint64_t cs_addr = 0;
  uint64_t cs_size = 0;
  uint64_t cs_pc = 0;
  uint64_t cs_started_ns = 0;  // virtual time + 1 when it first ran (the job timeout)
  // The last backward branch taken: where, the registers' hash then, and
  // whether memory was touched since (an exact repeat with none is a loop
  // that can never end).
  uint64_t cs_loop_pc = ~uint64_t{0};
  uint64_t cs_loop_hash = 0;
  bool cs_touched_memory = false;
  std::array<uint32_t, 256> cs_regs{};
  int as = -1;         // the AS it runs in, -1 until started
  bool deps_ready = false;  // every wait fence signalled
  bool started = false;
  bool finished = false;
};

struct Queue {
  uint8_t priority = 0;
  uint32_t ringbuf_size = 0;
  std::deque<std::shared_ptr<Job>> jobs;  // front is running or next
  bool running = false;
};

// struct panthor_group.
struct Group {
  uint32_t handle = 0;
  uint32_t file = 0;
  std::shared_ptr<vm::Vm> vm;
  uint8_t priority = 0;
  std::vector<Queue> queues;
  uint32_t state = 0;         // DRM_PANTHOR_GROUP_STATE_*
  uint32_t fatal_queues = 0;
  bool destroyed = false;
  // group_can_run().
  bool CanRun() const { return !destroyed && fatal_queues == 0 && !(state & 1u); }
};

// A tiler heap (panthor_heap.c with series 7/8): one alloc-on-fault BO of
// max_chunks * chunk_size, mapped at a kernel VA, grown chunk by chunk.
struct Heap {
  uint32_t handle = 0;
  uint64_t vm_key = 0;
  std::shared_ptr<gem::Bo> bo;
  uint64_t bo_va = 0;
  uint64_t ctx_va = 0;
  uint32_t chunk_size = 0;
  uint32_t max_chunks = 0;
  uint32_t chunk_count = 0;
  uint32_t target_in_flight = 0;
  std::vector<uint64_t> free_chunks;  // returned chunks, reused first
};

}  // namespace faultlab::dev

#endif  // FAULTLAB_ENGINE_DEV_GPU_H_
