#include "engine/trace/synthetic.h"

#include "absl/strings/str_cat.h"

namespace faultlab::trace {
namespace {

// Sparse BOs of the synthetic workload live at 2 MiB-aligned VAs from here.
constexpr uint64_t kHeapBase = 0x0000'0008'0000'0000ULL;
constexpr uint64_t kBoStride = 64ULL << 20;

// Request numbers from spec 2.2 (DRM_IOWR('d', 0x40 + id, size)).
constexpr uint32_t kDevQuery = 0xC0106440;
constexpr uint32_t kVmBind = 0xC0186443;
constexpr uint32_t kBoCreate = 0xC0186445;
constexpr uint32_t kBoMmapOffset = 0xC0106446;
constexpr uint32_t kGemClose = 0x40086409;  // DRM_IOW(0x09, struct drm_gem_close)

void Put32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}
void Put64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}

}  // namespace

absl::string_view MixName(Mix mix) {
  switch (mix) {
    case Mix::kFaultHeavy:
      return "fault-heavy";
    case Mix::kAccessHeavy:
      return "access-heavy";
    case Mix::kIoctlHeavy:
      return "ioctl-heavy";
    case Mix::kAllKinds:
      return "all-kinds";
  }
  return "?";
}

std::optional<Mix> ParseMix(absl::string_view name) {
  for (Mix m : {Mix::kFaultHeavy, Mix::kAccessHeavy, Mix::kIoctlHeavy, Mix::kAllKinds}) {
    if (MixName(m) == name) return m;
  }
  return std::nullopt;
}

TraceHeader SyntheticHeader(Mix mix, uint64_t seed) {
  TraceHeader h;
  Prng id(seed ^ 0x5eedfa17ULL);
  std::string trace_id;
  Put64(trace_id, id.Next());
  Put64(trace_id, id.Next());
  h.set_trace_id(trace_id);
  h.set_board("synthetic");
  h.set_profile("g610");
  h.set_variant("series-fixed");
  h.set_policy("noretry");
  h.set_engine_version("faultlab-synthetic");
  h.set_model_version(0);
  h.set_seed(seed);
  h.set_capture_source(CAPTURE_SOURCE_SYNTHETIC);
  h.set_workload(absl::StrCat("synthetic:", MixName(mix)));
  h.set_note(absl::StrCat("synthetic trace (", MixName(mix),
                          " mix): generated for tests and benchmarks, not by the model"));
  return h;
}

SyntheticGenerator::SyntheticGenerator(Mix mix, uint64_t seed) : mix_(mix), prng_(seed) {}

EventKind SyntheticGenerator::PickKind() {
  const uint64_t r = prng_.Uniform(1000);
  switch (mix_) {
    case Mix::kFaultHeavy:
      if (r < 550) return EVENT_MMU_FAULT;
      if (r < 950) return EVENT_JOB_ACCESS;
      if (r < 965) return EVENT_ALLOC_FAILURE;
      if (r < 985) return EVENT_MARKER;
      return EVENT_STATE_HASH;
    case Mix::kAccessHeavy:
      if (r < 900) return EVENT_JOB_ACCESS;
      if (r < 970) return EVENT_MMU_FAULT;
      if (r < 990) return EVENT_MARKER;
      return EVENT_STATE_HASH;
    case Mix::kIoctlHeavy:
      if (r < 850) return EVENT_IOCTL;
      if (r < 900) return EVENT_CPU_MAP;
      if (r < 950) return EVENT_JOB_ACCESS;
      return EVENT_MMU_FAULT;
    case Mix::kAllKinds:
      return static_cast<EventKind>(EVENT_IOCTL + prng_.Uniform(EVENT_STATE_HASH));
  }
  return EVENT_MARKER;
}

void SyntheticGenerator::MakeIoctl(Event* e) {
  Ioctl& x = e->ioctl;
  x = Ioctl{};
  x.file = 1;
  arg_in_.clear();
  arg_out_.clear();
  user_in_.clear();
  user_out_.clear();
  switch (prng_.Uniform(5)) {
    case 0: {  // BO_CREATE {size, flags, exclusive_vm_id, handle, granularity}
      const uint64_t size = 4096ULL << prng_.Uniform(12);
      const bool sparse = prng_.Chance(1, 2);
      Put64(arg_in_, size);
      Put32(arg_in_, sparse ? 2 : 0);
      Put32(arg_in_, 0);
      Put32(arg_in_, 0);
      Put32(arg_in_, sparse ? 65536 : 0);
      arg_out_ = arg_in_;
      const uint32_t h = next_handle_++;
      for (int i = 0; i < 4; ++i) arg_out_[16 + i] = static_cast<char>(h >> (8 * i));
      x.request = kBoCreate;
      break;
    }
    case 1: {  // VM_BIND sync, one MAP op read through the user-memory seam
      const uint64_t ops = 0x7fff'0000'1000ULL + prng_.Uniform(64) * 64;
      Put32(arg_in_, 1);
      Put32(arg_in_, 0);
      Put32(arg_in_, 48);
      Put32(arg_in_, 1);
      Put64(arg_in_, ops);
      arg_out_ = arg_in_;
      Put32(user_in_, 0);
      Put32(user_in_, static_cast<uint32_t>(1 + prng_.Uniform(next_handle_)));
      Put64(user_in_, 0);
      Put64(user_in_, kHeapBase + prng_.Uniform(256) * kBoStride);
      Put64(user_in_, 65536ULL << prng_.Uniform(6));
      Put32(user_in_, 0);
      Put32(user_in_, 0);
      Put64(user_in_, 0);
      x.user_in.push_back({ops, user_in_});
      x.request = kVmBind;
      break;
    }
    case 2: {  // BO_MMAP_OFFSET
      Put32(arg_in_, static_cast<uint32_t>(1 + prng_.Uniform(next_handle_)));
      Put32(arg_in_, 0);
      Put64(arg_in_, 0);
      arg_out_ = arg_in_.substr(0, 8);
      Put64(arg_out_, 0x100000000ULL + prng_.Uniform(4096) * 4096);
      x.request = kBoMmapOffset;
      break;
    }
    case 3: {  // GEM_CLOSE
      Put32(arg_in_, static_cast<uint32_t>(1 + prng_.Uniform(next_handle_)));
      Put32(arg_in_, 0);
      x.request = kGemClose;
      x.result = prng_.Chance(1, 10) ? -22 : 0;
      break;
    }
    default: {  // DEV_QUERY GPU_INFO with a 104-byte answer
      const uint64_t ptr = 0x7fff'0000'8000ULL;
      Put32(arg_in_, 0);
      Put32(arg_in_, 104);
      Put64(arg_in_, ptr);
      arg_out_ = arg_in_;
      Put32(user_out_, 0xa8670005);
      user_out_.resize(104, '\0');
      x.user_out.push_back({ptr, user_out_});
      x.request = kDevQuery;
      break;
    }
  }
  x.arg_in = arg_in_;
  x.arg_out = arg_out_;
  now_ns_ += prng_.Range(500, 3000);
}

void SyntheticGenerator::MakeAccess(Event* e) {
  JobAccess& x = e->access;
  if (prng_.Chance(1, 16)) ++job_;
  if (prng_.Chance(1, 64)) access_cursor_ = prng_.Uniform(1 << 20) * 4096;
  x.job = job_;
  x.vm = 1 + static_cast<uint32_t>(job_ % 3);
  x.va = kHeapBase + access_cursor_;
  x.length_bytes = 4096ULL << prng_.Uniform(5);
  x.stride_bytes = prng_.Chance(1, 8) ? 256 : 0;
  x.access = prng_.Chance(1, 3) ? ACCESS_WRITE : ACCESS_READ;
  access_cursor_ += x.length_bytes;
  now_ns_ += prng_.Range(50, 400);
}

void SyntheticGenerator::MakeFault(Event* e) {
  MmuFault& x = e->fault;
  const uint64_t granule = 65536;
  if (prng_.Chance(1, 128)) fault_cursor_ = prng_.Uniform(1 << 14) * granule;
  x.as = 1 + static_cast<uint32_t>(job_ % 3);
  x.vm = x.as;
  x.address = kHeapBase + fault_cursor_ + prng_.Uniform(16) * 4096;
  fault_cursor_ += granule;
  const bool write = prng_.Chance(1, 3);
  // TRANSLATION_FAULT_3 (0xc3), access READ (2) or WRITE (3), decoder fault bit.
  x.status = 0xc3 | (write ? 3u : 2u) << 8 | 1u << 10 | 0x0100u << 16;
  const bool failed = prng_.Chance(1, 200);
  x.outcome = failed ? FAULT_ENOMEM : FAULT_HANDLED;
  x.pages = failed ? 0 : static_cast<uint32_t>(granule / 4096);
  x.pt_pages = prng_.Chance(1, 32) ? 1 : 0;
  x.metadata = failed ? 0 : 1;
  x.latency_ns = prng_.Range(3'000, 40'000);
  x.latency_source = LATENCY_MODELLED;
  now_ns_ += x.latency_ns / 4 + prng_.Range(100, 1000);
}

void SyntheticGenerator::Next(Event* e) {
  e->kind = PickKind();
  switch (e->kind) {
    case EVENT_IOCTL:
      MakeIoctl(e);
      break;
    case EVENT_JOB_ACCESS:
      MakeAccess(e);
      break;
    case EVENT_MMU_FAULT:
      MakeFault(e);
      break;
    case EVENT_CS_SUBMIT: {
      CsSubmit& x = e->cs_submit;
      words_.clear();
      Put64(words_, 0x0100'0000'0000'1000ULL);  // MOVE48 r0 = 0x1000
      Put64(words_, 0x0000'0000'0000'0000ULL);  // NOP
      x.group = 1;
      x.queue = static_cast<uint32_t>(prng_.Uniform(2));
      x.stream_va = kHeapBase + 0x1000;
      x.words = words_;
      x.reads.clear();
      x.job = ++job_;
      now_ns_ += 2000;
      break;
    }
    case EVENT_ALLOC_FAILURE:
      e->alloc_failure = {prng_.Chance(1, 4) ? ALLOC_PAGE_TABLE : ALLOC_PAGE, ALLOC_NORETRY, 4096,
                          1 + static_cast<uint32_t>(job_ % 3)};
      now_ns_ += 100;
      break;
    case EVENT_HEAP_GROW: {
      const bool fallback = prng_.Chance(1, 10);
      e->heap_grow = {1 << 16, 1, 2 << 20, fallback ? 0ULL : 2ULL << 20, fallback};
      now_ns_ += 5000;
      break;
    }
    case EVENT_CPU_MAP:
      e->cpu_map = {1,
                    static_cast<uint32_t>(1 + prng_.Uniform(next_handle_)),
                    0x100000000ULL,
                    65536,
                    0,
                    prng_.Chance(1, 2),
                    16};
      now_ns_ += 1500;
      break;
    case EVENT_OOPS:
      e->oops.function = "panthor_gpuva_sm_step_remap";
      e->oops.message = "NULL pointer dereference reading op->remap.prev->gem.obj";
      e->oops.vm = 1;
      now_ns_ += 10;
      break;
    case EVENT_MARKER:
      e->marker.type = (frame_ & 1) ? MARKER_FRAME_END : MARKER_FRAME_BEGIN;
      e->marker.id = frame_++ / 2;
      e->marker.label = "frame";
      now_ns_ += 10;
      break;
    case EVENT_STATE_HASH:
      e->state_hash = {HASH_DEVICE, 0, prng_.Next()};
      break;
    default:
      break;
  }
  e->virtual_ns = now_ns_;
}

}  // namespace faultlab::trace
