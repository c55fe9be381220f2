// Event: the in-memory form of one trace event, as the writer takes it and the
// reader hands it out. The field meanings are those of the matching messages in
// proto/trace.proto (the schema of record); the enums are the generated ones.
//
// Event is a plain tagged struct rather than a std::variant: `kind` says which
// member is meaningful, the others are ignored. Byte fields are string_views:
//  - for TraceWriter::Append they must stay valid for the duration of the call;
//  - from TraceReader::Next they point into the reader's chunk buffer and stay
//    valid until the next call to Next().
//
//   Event e;
//   e.kind = EVENT_MMU_FAULT;
//   e.virtual_ns = 1'000;
//   e.fault.address = 0x100000;
//   e.fault.outcome = FAULT_HANDLED;
//   writer.Append(e);
#ifndef FAULTLAB_ENGINE_TRACE_EVENT_H_
#define FAULTLAB_ENGINE_TRACE_EVENT_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/trace.pb.h"

namespace faultlab::trace {

struct UserBytes {
  uint64_t address = 0;
  absl::string_view data;
  bool operator==(const UserBytes& o) const { return address == o.address && data == o.data; }
};

struct Ioctl {
  uint32_t file = 0;
  uint32_t request = 0;
  int32_t result = 0;
  absl::string_view arg_in;
  absl::string_view arg_out;
  std::vector<UserBytes> user_in;
  std::vector<UserBytes> user_out;
  uint64_t recorded_ns = 0;
  uint64_t duration_ns = 0;
  bool operator==(const Ioctl& o) const {
    return file == o.file && request == o.request && result == o.result && arg_in == o.arg_in &&
           arg_out == o.arg_out && user_in == o.user_in && user_out == o.user_out &&
           recorded_ns == o.recorded_ns && duration_ns == o.duration_ns;
  }
};

struct JobAccess {
  uint64_t job = 0;
  uint32_t vm = 0;
  uint64_t va = 0;
  uint64_t length_bytes = 0;
  uint64_t stride_bytes = 0;
  AccessType access = ACCESS_TYPE_UNSPECIFIED;
  uint32_t file = 0;
  uint32_t group = 0;
  uint32_t queue = 0;
  uint32_t signal_syncobj = 0;
  bool operator==(const JobAccess& o) const {
    return job == o.job && vm == o.vm && va == o.va && length_bytes == o.length_bytes &&
           stride_bytes == o.stride_bytes && access == o.access && file == o.file &&
           group == o.group && queue == o.queue && signal_syncobj == o.signal_syncobj;
  }
};

struct CsSubmit {
  uint32_t group = 0;
  uint32_t queue = 0;
  uint64_t stream_va = 0;
  absl::string_view words;
  std::vector<UserBytes> reads;
  uint64_t job = 0;
  bool operator==(const CsSubmit& o) const {
    return group == o.group && queue == o.queue && stream_va == o.stream_va && words == o.words &&
           reads == o.reads && job == o.job;
  }
};

struct MmuFault {
  uint32_t as = 0;
  uint32_t vm = 0;
  uint64_t address = 0;
  uint32_t status = 0;
  FaultOutcome outcome = FAULT_OUTCOME_UNSPECIFIED;
  uint32_t pages = 0;
  uint32_t pt_pages = 0;
  uint32_t metadata = 0;
  uint64_t latency_ns = 0;
  LatencySource latency_source = LATENCY_SOURCE_UNSPECIFIED;
  // A board's fault stream: when its IRQ ran (trace clock) and the fault
  // work's duration; 0 when not recorded (proto/trace.proto).
  uint64_t raised_ns = 0;
  uint64_t work_ns = 0;

  // AS_FAULTSTATUS decode (spec 3.1: [7:0] exception type, [9:8] access type,
  // [10] decoder fault, [31:16] source id).
  uint32_t exception_type() const { return status & 0xff; }
  uint32_t access_type() const { return (status >> 8) & 0x3; }
  bool decoder_fault() const { return (status >> 10) & 1; }
  uint32_t source_id() const { return status >> 16; }

  bool operator==(const MmuFault& o) const {
    return as == o.as && vm == o.vm && address == o.address && status == o.status &&
           outcome == o.outcome && pages == o.pages && pt_pages == o.pt_pages &&
           metadata == o.metadata && latency_ns == o.latency_ns &&
           latency_source == o.latency_source && raised_ns == o.raised_ns && work_ns == o.work_ns;
  }
};

struct AllocFailure {
  AllocKind kind = ALLOC_KIND_UNSPECIFIED;
  AllocClass alloc_class = ALLOC_CLASS_UNSPECIFIED;
  uint64_t size_bytes = 0;
  uint32_t vm = 0;
  bool operator==(const AllocFailure& o) const {
    return kind == o.kind && alloc_class == o.alloc_class && size_bytes == o.size_bytes &&
           vm == o.vm;
  }
};

struct HeapGrow {
  uint32_t heap = 0;
  uint32_t vm = 0;
  uint64_t requested_bytes = 0;
  uint64_t granted_bytes = 0;
  bool fallback = false;
  bool operator==(const HeapGrow& o) const {
    return heap == o.heap && vm == o.vm && requested_bytes == o.requested_bytes &&
           granted_bytes == o.granted_bytes && fallback == o.fallback;
  }
};

struct CpuMap {
  uint32_t file = 0;
  uint32_t handle = 0;
  uint64_t offset = 0;
  uint64_t length_bytes = 0;
  int32_t result = 0;
  bool unmap = false;
  uint32_t populated_pages = 0;
  bool operator==(const CpuMap& o) const {
    return file == o.file && handle == o.handle && offset == o.offset &&
           length_bytes == o.length_bytes && result == o.result && unmap == o.unmap &&
           populated_pages == o.populated_pages;
  }
};

struct Oops {
  absl::string_view function;
  absl::string_view message;
  uint32_t vm = 0;
  bool operator==(const Oops& o) const {
    return function == o.function && message == o.message && vm == o.vm;
  }
};

struct Marker {
  MarkerType type = MARKER_TYPE_UNSPECIFIED;
  uint64_t id = 0;
  absl::string_view label;
  bool operator==(const Marker& o) const {
    return type == o.type && id == o.id && label == o.label;
  }
};

struct StateHash {
  HashScope scope = HASH_SCOPE_UNSPECIFIED;
  uint32_t object = 0;
  uint64_t hash = 0;
  bool operator==(const StateHash& o) const {
    return scope == o.scope && object == o.object && hash == o.hash;
  }
};

struct FileOp {
  uint32_t file = 0;
  FileNode node = FILE_NODE_UNSPECIFIED;
  bool close = false;
  bool operator==(const FileOp& o) const {
    return file == o.file && node == o.node && close == o.close;
  }
};

struct GpuRun {
  uint64_t until_ns = 0;
  std::vector<UserBytes> cpu_writes;  // addresses in the mmap offset space
  bool operator==(const GpuRun& o) const {
    return until_ns == o.until_ns && cpu_writes == o.cpu_writes;
  }
};

struct Event {
  EventKind kind = EVENT_KIND_UNSPECIFIED;
  // Virtual time of the event, ns since the engine started.
  uint64_t virtual_ns = 0;

  Ioctl ioctl;
  JobAccess access;
  CsSubmit cs_submit;
  MmuFault fault;
  AllocFailure alloc_failure;
  HeapGrow heap_grow;
  CpuMap cpu_map;
  Oops oops;
  Marker marker;
  StateHash state_hash;
  FileOp file_op;
  GpuRun gpu_run;

  // Compares kind, time and the member that `kind` selects.
  bool operator==(const Event& o) const;
  bool operator!=(const Event& o) const { return !(*this == o); }
};

// True for the kinds this build can encode and decode.
bool IsKnownKind(EventKind kind);

// Short lower-case name of a kind ("ioctl", "mmu_fault", ...), "unknown" otherwise.
absl::string_view KindName(EventKind kind);

// Owns the bytes that events built in memory point to (tests, generators).
//   EventArena arena;
//   e.oops.function = arena.Keep("panthor_gpuva_sm_step_remap");
class EventArena {
 public:
  absl::string_view Keep(std::string s) {
    strings_.push_back(std::move(s));
    return strings_.back();
  }
  // A copy of `e` whose bytes (of the member `kind` selects) live in the arena.
  Event Own(const Event& e);

 private:
  std::deque<std::string> strings_;  // deque: stable addresses
};

}  // namespace faultlab::trace

#endif  // FAULTLAB_ENGINE_TRACE_EVENT_H_
