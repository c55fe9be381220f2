#include "engine/trace/text.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "engine/uapi/ioctls.h"

namespace faultlab::trace {
namespace {

std::string Hex(uint64_t v) { return absl::StrFormat("0x%x", v); }

std::string Bytes(absl::string_view b) {
  if (b.size() <= 64) return absl::BytesToHexString(b);
  return absl::StrCat(absl::BytesToHexString(b.substr(0, 64)), "...(", b.size(), " bytes)");
}

std::string Copies(const std::vector<UserBytes>& copies) {
  std::string s = "[";
  for (size_t i = 0; i < copies.size(); ++i) {
    absl::StrAppend(&s, i ? " " : "", Hex(copies[i].address), ":", Bytes(copies[i].data));
  }
  return s + "]";
}

absl::string_view AccessName(AccessType a) {
  switch (a) {
    case ACCESS_READ:
      return "read";
    case ACCESS_WRITE:
      return "write";
    case ACCESS_EXECUTE:
      return "execute";
    case ACCESS_ATOMIC:
      return "atomic";
    default:
      return "unspecified";
  }
}

absl::string_view AllocKindName(AllocKind k) {
  switch (k) {
    case ALLOC_PAGE:
      return "page";
    case ALLOC_PAGE_TABLE:
      return "page_table";
    case ALLOC_METADATA:
      return "metadata";
    default:
      return "unspecified";
  }
}

absl::string_view AllocClassName(AllocClass c) {
  switch (c) {
    case ALLOC_BLOCKING:
      return "blocking";
    case ALLOC_NORETRY:
      return "noretry";
    case ALLOC_NOWAIT:
      return "nowait";
    case ALLOC_POOL:
      return "pool";
    default:
      return "unspecified";
  }
}

absl::string_view MarkerName(MarkerType t) {
  switch (t) {
    case MARKER_FRAME_BEGIN:
      return "frame_begin";
    case MARKER_FRAME_END:
      return "frame_end";
    case MARKER_PHASE_BEGIN:
      return "phase_begin";
    case MARKER_PHASE_END:
      return "phase_end";
    case MARKER_NOTE:
      return "note";
    default:
      return "unspecified";
  }
}

absl::string_view LatencySourceName(LatencySource s) {
  switch (s) {
    case LATENCY_MODELLED:
      return "modelled";
    case LATENCY_RECORDED:
      return "recorded";
    case LATENCY_UNKNOWN:
      return "unknown";
    default:
      return "unspecified";
  }
}

}  // namespace

absl::string_view CaptureSourceName(CaptureSource s) {
  switch (s) {
    case CAPTURE_SOURCE_TWIN:
      return "twin";
    case CAPTURE_SOURCE_BOARD:
      return "board";
    case CAPTURE_SOURCE_SYNTHETIC:
      return "synthetic";
    default:
      return "unspecified";
  }
}

absl::string_view FaultOutcomeName(FaultOutcome o) {
  switch (o) {
    case FAULT_HANDLED:
      return "handled";
    case FAULT_DEGRADED:
      return "degraded";
    case FAULT_ENOMEM:
      return "enomem";
    case FAULT_EFAULT:
      return "efault";
    case FAULT_EINVAL:
      return "einval";
    case FAULT_OOPS:
      return "oops";
    default:
      return "unspecified";
  }
}

std::string FormatEvent(uint64_t index, const Event& e) {
  std::string s = absl::StrFormat("%7d t=%d %s", index, e.virtual_ns, KindName(e.kind));
  switch (e.kind) {
    case EVENT_IOCTL: {
      const Ioctl& x = e.ioctl;
      absl::StrAppend(&s, " file=", x.file, " request=", absl::StrFormat("0x%08x", x.request));
      if (const char* name = uapi::IoctlName(x.request); *name)
        absl::StrAppend(&s, " (", name, ")");
      absl::StrAppend(&s, " result=", x.result, " in=", Bytes(x.arg_in), " out=", Bytes(x.arg_out));
      if (!x.user_in.empty()) absl::StrAppend(&s, " user_in=", Copies(x.user_in));
      if (!x.user_out.empty()) absl::StrAppend(&s, " user_out=", Copies(x.user_out));
      if (x.recorded_ns || x.duration_ns) {
        absl::StrAppend(&s, " recorded_ns=", x.recorded_ns, " duration_ns=", x.duration_ns);
      }
      break;
    }
    case EVENT_JOB_ACCESS: {
      const JobAccess& x = e.access;
      absl::StrAppend(&s, " job=", x.job, " vm=", x.vm, " va=", Hex(x.va), " len=", x.length_bytes,
                      " stride=", x.stride_bytes, " ", AccessName(x.access));
      if (x.file || x.group) {
        absl::StrAppend(&s, " file=", x.file, " group=", x.group, " queue=", x.queue,
                        " signal=", x.signal_syncobj);
      }
      break;
    }
    case EVENT_CS_SUBMIT: {
      const CsSubmit& x = e.cs_submit;
      absl::StrAppend(&s, " group=", x.group, " queue=", x.queue, " stream=", Hex(x.stream_va),
                      " job=", x.job, " words=", Bytes(x.words));
      if (!x.reads.empty()) absl::StrAppend(&s, " reads=", Copies(x.reads));
      break;
    }
    case EVENT_MMU_FAULT: {
      const MmuFault& x = e.fault;
      absl::StrAppend(&s, " as=", x.as, " vm=", x.vm, " addr=", Hex(x.address),
                      " status=", absl::StrFormat("0x%08x", x.status),
                      " (exception=", Hex(x.exception_type()), " access=", x.access_type(),
                      x.decoder_fault() ? " decoder" : " slave", " source=", Hex(x.source_id()),
                      ") outcome=", FaultOutcomeName(x.outcome), " pages=", x.pages,
                      " pt_pages=", x.pt_pages, " metadata=", x.metadata,
                      " latency_ns=", x.latency_ns, " (", LatencySourceName(x.latency_source), ")");
      if (x.raised_ns || x.work_ns)
        absl::StrAppend(&s, " raised_ns=", x.raised_ns, " work_ns=", x.work_ns);
      break;
    }
    case EVENT_ALLOC_FAILURE: {
      const AllocFailure& x = e.alloc_failure;
      absl::StrAppend(&s, " kind=", AllocKindName(x.kind), " class=", AllocClassName(x.alloc_class),
                      " size=", x.size_bytes, " vm=", x.vm);
      break;
    }
    case EVENT_HEAP_GROW: {
      const HeapGrow& x = e.heap_grow;
      absl::StrAppend(&s, " heap=", Hex(x.heap), " vm=", x.vm, " requested=", x.requested_bytes,
                      " granted=", x.granted_bytes, x.fallback ? " fallback" : "");
      break;
    }
    case EVENT_CPU_MAP: {
      const CpuMap& x = e.cpu_map;
      absl::StrAppend(&s, x.unmap ? " munmap" : " mmap", " file=", x.file, " handle=", x.handle,
                      " offset=", Hex(x.offset), " len=", x.length_bytes, " result=", x.result,
                      " populated_pages=", x.populated_pages);
      break;
    }
    case EVENT_OOPS:
      absl::StrAppend(&s, " vm=", e.oops.vm, " function=", e.oops.function, " message=\"",
                      absl::CEscape(e.oops.message), "\"");
      break;
    case EVENT_MARKER:
      absl::StrAppend(&s, " ", MarkerName(e.marker.type), " id=", e.marker.id, " label=\"",
                      absl::CEscape(e.marker.label), "\"");
      break;
    case EVENT_FILE: {
      const FileOp& x = e.file_op;
      absl::StrAppend(&s, x.close ? " close" : " open", " file=", x.file, " node=",
                      x.node == NODE_PRIMARY  ? "primary"
                      : x.node == NODE_RENDER ? "render"
                      : x.node == NODE_EXPORT ? "export"
                                              : "unspecified");
      break;
    }
    case EVENT_GPU_RUN:
      absl::StrAppend(&s, " until=", e.gpu_run.until_ns);
      if (!e.gpu_run.cpu_writes.empty())
        absl::StrAppend(&s, " cpu_writes=", Copies(e.gpu_run.cpu_writes));
      break;
    case EVENT_STATE_HASH:
      absl::StrAppend(&s, " scope=", e.state_hash.scope == HASH_VM ? "vm" : "device",
                      " object=", e.state_hash.object,
                      " hash=", absl::StrFormat("%016x", e.state_hash.hash));
      break;
    default:
      break;
  }
  return s;
}

std::string FormatHeader(const TraceHeader& h) {
  std::string s;
  absl::StrAppend(&s, "trace_id: ", absl::BytesToHexString(h.trace_id()), "\n");
  absl::StrAppend(&s, "capture_source: ", CaptureSourceName(h.capture_source()), "\n");
  absl::StrAppend(&s, "board: ", h.board(), "\n", "profile: ", h.profile(), "\n");
  absl::StrAppend(&s, "variant: ", h.variant(), "\n", "policy: ", h.policy(), "\n");
  absl::StrAppend(&s, "workload: ", h.workload(), "\n", "seed: ", h.seed(), "\n");
  absl::StrAppend(&s, "engine_version: ", h.engine_version(), "\n");
  absl::StrAppend(&s, "model_version: ", h.model_version(), "\n");
  for (const ConfigEntry& c : h.config())
    absl::StrAppend(&s, "config.", c.key(), ": ", c.value(), "\n");
  if (!h.note().empty()) absl::StrAppend(&s, "note: ", h.note(), "\n");
  return s;
}

absl::Status Dump(TraceReader& reader, uint64_t limit,
                  const std::function<void(absl::string_view)>& emit,
                  const std::function<void(const Event&)>& more) {
  if (absl::Status s = reader.Open(); !s.ok()) return s;
  const std::string header = FormatHeader(reader.header());
  for (absl::string_view line : absl::StrSplit(header, '\n', absl::SkipEmpty())) emit(line);
  emit("--");
  Event e;
  uint64_t n = 0;
  while ((limit == 0 || n < limit) && reader.Next(&e)) {
    emit(FormatEvent(reader.event_index(), e));
    if (more) more(e);
    ++n;
  }
  return reader.status();
}

void TraceSummary::Add(const Event& e) {
  if (events_ == 0) first_ns_ = e.virtual_ns;
  last_ns_ = e.virtual_ns;
  ++events_;
  ++by_kind_[static_cast<uint32_t>(e.kind) & 63];
  switch (e.kind) {
    case EVENT_MMU_FAULT: {
      ++by_outcome_[static_cast<uint32_t>(e.fault.outcome) & 7];
      fault_pages_ += e.fault.pages;
      fault_pt_pages_ += e.fault.pt_pages;
      // A board's unhandled fault known only from its kernel log: counted, no latency.
      if (e.fault.latency_source == LATENCY_UNKNOWN) break;
      const uint64_t ns = e.fault.latency_ns;
      int bucket = 0;
      while (bucket < kLatencyBuckets - 1 && ns > (1000ULL << bucket)) ++bucket;
      ++latency_buckets_[bucket];
      latencies_.push_back(ns);
      latency_max_ns_ = std::max(latency_max_ns_, ns);
      latency_sum_ns_ += ns;
      break;
    }
    case EVENT_ALLOC_FAILURE:
      ++alloc_failures_[static_cast<uint32_t>(e.alloc_failure.kind) & 3];
      break;
    case EVENT_HEAP_GROW:
      heap_grow_fallbacks_ += e.heap_grow.fallback;
      break;
    default:
      break;
  }
}

uint64_t TraceSummary::LatencyQuantileNs(int permille) const {
  if (latencies_.empty()) return 0;
  std::vector<uint64_t> v = latencies_;
  const uint64_t n = v.size();
  uint64_t rank = (n * static_cast<uint64_t>(permille) + 999) / 1000;  // nearest rank
  if (rank == 0) rank = 1;
  std::nth_element(v.begin(), v.begin() + static_cast<int64_t>(rank - 1), v.end());
  return v[rank - 1];
}

std::string TraceSummary::ReportText() const {
  std::string s;
  absl::StrAppend(&s, "events: ", events_, "\n");
  absl::StrAppend(&s, "virtual_duration_ns: ", last_ns_ - first_ns_, "\n");
  for (int k = EVENT_IOCTL; k <= EVENT_STATE_HASH; ++k) {
    absl::StrAppend(&s, "events.", KindName(static_cast<EventKind>(k)), ": ", by_kind_[k], "\n");
  }
  // Kinds added later show only when present, so that reports of traces
  // recorded before them stay as they were.
  if (by_kind_[EVENT_FILE]) absl::StrAppend(&s, "events.file: ", by_kind_[EVENT_FILE], "\n");
  if (by_kind_[EVENT_GPU_RUN])
    absl::StrAppend(&s, "events.gpu_run: ", by_kind_[EVENT_GPU_RUN], "\n");
  for (int o = FAULT_HANDLED; o <= FAULT_OOPS; ++o) {
    absl::StrAppend(&s, "faults.", FaultOutcomeName(static_cast<FaultOutcome>(o)), ": ",
                    by_outcome_[o], "\n");
  }
  absl::StrAppend(&s, "fault_latency_ns.p50: ", LatencyQuantileNs(500), "\n");
  absl::StrAppend(&s, "fault_latency_ns.p90: ", LatencyQuantileNs(900), "\n");
  absl::StrAppend(&s, "fault_latency_ns.p99: ", LatencyQuantileNs(990), "\n");
  absl::StrAppend(&s, "fault_latency_ns.max: ", latency_max_ns_, "\n");
  absl::StrAppend(&s, "fault_latency_histogram_us:");
  for (int b = 0; b < kLatencyBuckets; ++b) absl::StrAppend(&s, " ", latency_buckets_[b]);
  absl::StrAppend(&s, "\n");
  absl::StrAppend(&s, "pages_populated_by_faults: ", fault_pages_, "\n");
  absl::StrAppend(&s, "page_table_pages_by_faults: ", fault_pt_pages_, "\n");
  absl::StrAppend(&s, "alloc_failures.page: ", alloc_failures_[1], "\n");
  absl::StrAppend(&s, "alloc_failures.page_table: ", alloc_failures_[2], "\n");
  absl::StrAppend(&s, "alloc_failures.metadata: ", alloc_failures_[3], "\n");
  absl::StrAppend(&s, "heap_grow_fallbacks: ", heap_grow_fallbacks_, "\n");
  return s;
}

std::string TraceSummary::ReportJson() const {
  std::string s;
  absl::StrAppend(&s, "\"events\": ", events_, ", \"virtual_duration_ns\": ", last_ns_ - first_ns_);
  absl::StrAppend(&s, ", \"events_by_kind\": {");
  for (int k = EVENT_IOCTL; k <= EVENT_STATE_HASH; ++k) {
    absl::StrAppend(&s, k > EVENT_IOCTL ? ", " : "", "\"", KindName(static_cast<EventKind>(k)),
                    "\": ", by_kind_[k]);
  }
  if (by_kind_[EVENT_FILE]) absl::StrAppend(&s, ", \"file\": ", by_kind_[EVENT_FILE]);
  if (by_kind_[EVENT_GPU_RUN]) absl::StrAppend(&s, ", \"gpu_run\": ", by_kind_[EVENT_GPU_RUN]);
  absl::StrAppend(&s, "}, \"faults\": {");
  for (int o = FAULT_HANDLED; o <= FAULT_OOPS; ++o) {
    absl::StrAppend(&s, o > FAULT_HANDLED ? ", " : "", "\"",
                    FaultOutcomeName(static_cast<FaultOutcome>(o)), "\": ", by_outcome_[o]);
  }
  absl::StrAppend(&s, "}, \"fault_latency_ns\": {\"p50\": ", LatencyQuantileNs(500),
                  ", \"p90\": ", LatencyQuantileNs(900), ", \"p99\": ", LatencyQuantileNs(990),
                  ", \"max\": ", latency_max_ns_, ", \"histogram_us_pow2\": [");
  for (int b = 0; b < kLatencyBuckets; ++b) {
    absl::StrAppend(&s, b ? ", " : "", latency_buckets_[b]);
  }
  absl::StrAppend(&s, "]}, \"pages_populated_by_faults\": ", fault_pages_,
                  ", \"page_table_pages_by_faults\": ", fault_pt_pages_,
                  ", \"alloc_failures\": {\"page\": ", alloc_failures_[1],
                  ", \"page_table\": ", alloc_failures_[2], ", \"metadata\": ", alloc_failures_[3],
                  "}, \"heap_grow_fallbacks\": ", heap_grow_fallbacks_);
  return s;
}

std::string TraceSummary::Format(const ReaderStats& r) const {
  std::string s;
  absl::StrAppend(&s, "events: ", events_, "\n");
  absl::StrAppend(&s, "chunks: ", r.chunks, " (", r.compressed_chunks, " zstd)\n");
  absl::StrAppend(&s, "bytes: ", r.bytes, "\n");
  if (events_) {
    const uint64_t centi = r.bytes * 100 / events_;
    absl::StrAppend(&s, "bytes_per_event: ", centi / 100, ".", absl::StrFormat("%02d", centi % 100),
                    "\n");
  }
  absl::StrAppend(&s, "virtual_duration_ns: ", last_ns_ - first_ns_, "\n");
  for (int k = EVENT_IOCTL; k <= EVENT_GPU_RUN; ++k) {
    if (by_kind_[k]) {
      absl::StrAppend(&s, "events.", KindName(static_cast<EventKind>(k)), ": ", by_kind_[k], "\n");
    }
  }
  const uint64_t faults = by_kind_[EVENT_MMU_FAULT];
  if (faults) {
    for (int o = FAULT_HANDLED; o <= FAULT_OOPS; ++o) {
      if (by_outcome_[o]) {
        absl::StrAppend(&s, "faults.", FaultOutcomeName(static_cast<FaultOutcome>(o)), ": ",
                        by_outcome_[o], "\n");
      }
    }
    absl::StrAppend(&s, "fault_latency_ns.mean: ", latency_sum_ns_ / faults, "\n");
    absl::StrAppend(&s, "fault_latency_ns.p50: ", LatencyQuantileNs(500), "\n");
    absl::StrAppend(&s, "fault_latency_ns.p90: ", LatencyQuantileNs(900), "\n");
    absl::StrAppend(&s, "fault_latency_ns.p99: ", LatencyQuantileNs(990), "\n");
    absl::StrAppend(&s, "fault_latency_ns.max: ", latency_max_ns_, "\n");
    absl::StrAppend(&s, "fault_pages: ", fault_pages_, "\n");
    absl::StrAppend(&s, "fault_pt_pages: ", fault_pt_pages_, "\n");
  }
  static constexpr const char* kAllocKinds[4] = {"unspecified", "page", "page_table", "metadata"};
  for (int k = 1; k < 4; ++k) {
    if (alloc_failures_[k]) {
      absl::StrAppend(&s, "alloc_failures.", kAllocKinds[k], ": ", alloc_failures_[k], "\n");
    }
  }
  if (heap_grow_fallbacks_)
    absl::StrAppend(&s, "heap_grow_fallbacks: ", heap_grow_fallbacks_, "\n");
  if (r.unknown_event_kinds)
    absl::StrAppend(&s, "unknown_event_kinds: ", r.unknown_event_kinds, "\n");
  if (r.unknown_columns) absl::StrAppend(&s, "unknown_columns: ", r.unknown_columns, "\n");
  if (r.damaged_chunks) {
    absl::StrAppend(&s, "damaged_chunks: ", r.damaged_chunks, "\n");
    absl::StrAppend(&s, "skipped_bytes: ", r.skipped_bytes, "\n");
    for (const std::string& d : r.damage) absl::StrAppend(&s, "damage: ", d, "\n");
  }
  return s;
}

}  // namespace faultlab::trace
