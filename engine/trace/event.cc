#include "engine/trace/event.h"

namespace faultlab::trace {

bool IsKnownKind(EventKind kind) { return kind >= EVENT_IOCTL && kind <= EVENT_GPU_RUN; }

absl::string_view KindName(EventKind kind) {
  switch (kind) {
    case EVENT_IOCTL:
      return "ioctl";
    case EVENT_JOB_ACCESS:
      return "job_access";
    case EVENT_CS_SUBMIT:
      return "cs_submit";
    case EVENT_MMU_FAULT:
      return "mmu_fault";
    case EVENT_ALLOC_FAILURE:
      return "alloc_failure";
    case EVENT_HEAP_GROW:
      return "heap_grow";
    case EVENT_CPU_MAP:
      return "cpu_map";
    case EVENT_OOPS:
      return "oops";
    case EVENT_MARKER:
      return "marker";
    case EVENT_STATE_HASH:
      return "state_hash";
    case EVENT_FILE:
      return "file";
    case EVENT_GPU_RUN:
      return "gpu_run";
    default:
      return "unknown";
  }
}

bool Event::operator==(const Event& o) const {
  if (kind != o.kind || virtual_ns != o.virtual_ns) return false;
  switch (kind) {
    case EVENT_IOCTL:
      return ioctl == o.ioctl;
    case EVENT_JOB_ACCESS:
      return access == o.access;
    case EVENT_CS_SUBMIT:
      return cs_submit == o.cs_submit;
    case EVENT_MMU_FAULT:
      return fault == o.fault;
    case EVENT_ALLOC_FAILURE:
      return alloc_failure == o.alloc_failure;
    case EVENT_HEAP_GROW:
      return heap_grow == o.heap_grow;
    case EVENT_CPU_MAP:
      return cpu_map == o.cpu_map;
    case EVENT_OOPS:
      return oops == o.oops;
    case EVENT_MARKER:
      return marker == o.marker;
    case EVENT_STATE_HASH:
      return state_hash == o.state_hash;
    case EVENT_FILE:
      return file_op == o.file_op;
    case EVENT_GPU_RUN:
      return gpu_run == o.gpu_run;
    default:
      return true;
  }
}

Event EventArena::Own(const Event& e) {
  // Copies only the member `kind` selects: the others may hold stale views
  // (a reader reuses one Event across chunks).
  Event c;
  c.kind = e.kind;
  c.virtual_ns = e.virtual_ns;
  auto keep = [this](absl::string_view v) { return Keep(std::string(v)); };
  auto keep_all = [&](std::vector<UserBytes> copies) {
    for (UserBytes& u : copies) u.data = keep(u.data);
    return copies;
  };
  switch (e.kind) {
    case EVENT_IOCTL:
      c.ioctl = e.ioctl;
      c.ioctl.arg_in = keep(e.ioctl.arg_in);
      c.ioctl.arg_out = keep(e.ioctl.arg_out);
      c.ioctl.user_in = keep_all(e.ioctl.user_in);
      c.ioctl.user_out = keep_all(e.ioctl.user_out);
      break;
    case EVENT_JOB_ACCESS:
      c.access = e.access;
      break;
    case EVENT_CS_SUBMIT:
      c.cs_submit = e.cs_submit;
      c.cs_submit.words = keep(e.cs_submit.words);
      c.cs_submit.reads = keep_all(e.cs_submit.reads);
      break;
    case EVENT_MMU_FAULT:
      c.fault = e.fault;
      break;
    case EVENT_ALLOC_FAILURE:
      c.alloc_failure = e.alloc_failure;
      break;
    case EVENT_HEAP_GROW:
      c.heap_grow = e.heap_grow;
      break;
    case EVENT_CPU_MAP:
      c.cpu_map = e.cpu_map;
      break;
    case EVENT_OOPS:
      c.oops.vm = e.oops.vm;
      c.oops.function = keep(e.oops.function);
      c.oops.message = keep(e.oops.message);
      break;
    case EVENT_MARKER:
      c.marker = e.marker;
      c.marker.label = keep(e.marker.label);
      break;
    case EVENT_STATE_HASH:
      c.state_hash = e.state_hash;
      break;
    case EVENT_FILE:
      c.file_op = e.file_op;
      break;
    case EVENT_GPU_RUN:
      c.gpu_run.until_ns = e.gpu_run.until_ns;
      c.gpu_run.cpu_writes = keep_all(e.gpu_run.cpu_writes);
      break;
    default:
      break;
  }
  return c;
}

}  // namespace faultlab::trace
