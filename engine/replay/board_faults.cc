#include "engine/replay/board_faults.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/uapi/ioctls.h"
#include "engine/uapi/panthor.h"

namespace faultlab::replay {
namespace {

// A hostile trace cannot make the scan hold more than this.
constexpr uint64_t kMaxFaults = 1ULL << 24;
// Submits of other VMs looked past to find a fault's job.
constexpr size_t kMaxLookBack = 4096;

struct Submit {
  uint64_t start_ns;                 // the call's start on the trace's clock
  std::pair<uint32_t, uint32_t> vm;  // (file, VM id)
  size_t ordinal;                    // among the successful submits, in trace order
};

// AS_FAULTSTATUS's access type [9:8] (0 atomic, 1 execute, 2 read, 3 write;
// panthor_regs.h) as the access that made it.
trace::AccessType AccessOf(uint32_t status) {
  switch ((status >> 8) & 3) {
    case 0:
      return trace::ACCESS_ATOMIC;
    case 1:
      return trace::ACCESS_EXECUTE;
    case 2:
      return trace::ACCESS_READ;
    default:
      return trace::ACCESS_WRITE;
  }
}

}  // namespace

absl::StatusOr<BoardFaults> ScanBoardFaults(trace::TraceReader& reader) {
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> group_vm;   // (file, group) -> VM id
  std::vector<Submit> submits;                                  // the successful ones, in order
  std::vector<Submit> by_time;                                  // the same by start time
  std::map<uint32_t, std::pair<uint32_t, uint32_t>> stream_vm;  // the stream's VM -> (file, VM)
  BoardFaults out;
  trace::Event e;
  while (reader.Next(&e)) {
    if (e.kind == trace::EVENT_IOCTL && e.ioctl.result == 0) {
      const trace::Ioctl& io = e.ioctl;
      const uapi::IoctlDesc* d = uapi::FindIoctl(io.request);
      if (d && d->id == uapi::IoctlId::kGroupCreate &&
          io.arg_out.size() >= sizeof(uapi::PanthorGroupCreate)) {
        uapi::PanthorGroupCreate gc;
        std::memcpy(&gc, io.arg_out.data(), sizeof(gc));
        group_vm[{io.file, gc.group_handle}] = gc.vm_id;
      } else if (d && d->id == uapi::IoctlId::kGroupSubmit &&
                 io.arg_in.size() >= sizeof(uapi::PanthorGroupSubmit)) {
        uapi::PanthorGroupSubmit gs;
        std::memcpy(&gs, io.arg_in.data(), sizeof(gs));
        auto g = group_vm.find({io.file, gs.group_handle});
        const uint64_t start = e.virtual_ns > io.duration_ns ? e.virtual_ns - io.duration_ns : 0;
        submits.push_back({start, {io.file, g == group_vm.end() ? 0 : g->second}, submits.size()});
      }
      continue;
    }
    if (e.kind != trace::EVENT_MMU_FAULT || e.fault.raised_ns == 0 ||
        e.fault.latency_source != trace::LATENCY_RECORDED) {
      continue;
    }
    if (++out.recorded > kMaxFaults)
      return absl::DataLossError(absl::StrCat("more than ", kMaxFaults, " recorded faults"));
    out.by_submit.resize(submits.size());
    if (by_time.size() != submits.size()) {  // calls of several threads overlap: by start
      by_time = submits;
      std::stable_sort(by_time.begin(), by_time.end(),
                       [](const Submit& a, const Submit& b) { return a.start_ns < b.start_ns; });
    }
    const uint64_t at = e.fault.raised_ns;
    // The last submit before it (of its VM, once the stream's VM is known).
    auto it = std::upper_bound(by_time.begin(), by_time.end(), at,
                               [](uint64_t t, const Submit& s) { return t < s.start_ns; });
    auto vm = stream_vm.find(e.fault.vm);
    bool placed = false;
    for (size_t looked = 0; !placed && it != by_time.begin() && looked < kMaxLookBack; ++looked) {
      --it;
      if (vm != stream_vm.end() && it->vm != vm->second) continue;  // another VM's job
      if (vm == stream_vm.end()) stream_vm[e.fault.vm] = it->vm;    // its VM: the first job's
      gpu::GpuAccess a;
      a.va = e.fault.address;
      a.length_bytes = 4;
      a.access = AccessOf(e.fault.status);
      out.by_submit[it->ordinal].push_back(a);
      placed = true;
    }
    if (!placed) ++out.unattributed;
  }
  if (!reader.status().ok()) return reader.status();
  out.by_submit.resize(out.recorded ? submits.size() : 0);
  return out;
}

}  // namespace faultlab::replay
