#include "agents/shim/capture.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/ioc.h"
#include "engine/uapi/panthor.h"

namespace faultlab::shim {

namespace {

// --- guarded reads ----------------------------------------------------------

thread_local sigjmp_buf* guard = nullptr;
struct sigaction previous_segv;

void OnSegv(int sig, siginfo_t* info, void* ctx) {
  if (guard != nullptr) siglongjmp(*guard, 1);
  // Not ours: what would have happened without the shim.
  if (previous_segv.sa_flags & SA_SIGINFO) {
    if (previous_segv.sa_sigaction) return previous_segv.sa_sigaction(sig, info, ctx);
  } else if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
    return previous_segv.sa_handler(sig);
  }
  signal(sig, SIG_DFL);  // the fault happens again on return, and kills as it should
}

int64_t Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

constexpr uint64_t kMaxArray = 1 << 20;  // bytes of one array captured; the kernel refuses far less

template <typename T>
T As(const std::string& s, size_t at = 0) {
  T v{};
  if (s.size() >= at + sizeof(T)) memcpy(&v, s.data() + at, sizeof(T));
  return v;
}

void AddArray(uint64_t ptr, uint64_t count, uint64_t elem, std::vector<UserRange>* out) {
  if (ptr && count && elem && count * elem <= kMaxArray) out->push_back({ptr, count * elem});
}

// An obj_array's elements as bytes, or empty where unreadable.
std::string ReadArray(const uapi::PanthorObjArray& a) {
  std::string s;
  if (!a.array || !a.count || !a.stride || uint64_t{a.count} * a.stride > kMaxArray) return s;
  s.resize(uint64_t{a.count} * a.stride);
  if (!SafeRead(s.data(), a.array, s.size())) s.clear();
  return s;
}

}  // namespace

void InstallReadGuard() {
  struct sigaction sa {};
  sa.sa_sigaction = OnSegv;
  // SA_NODEFER: leaving the handler by siglongjmp leaves SIGSEGV unblocked.
  sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &previous_segv);
}

bool SafeRead(void* dst, uint64_t src, size_t n) {
  if (n == 0) return true;
  if (src == 0) return false;
  sigjmp_buf here;
  if (sigsetjmp(here, 0) != 0) {
    guard = nullptr;
    return false;
  }
  guard = &here;
  memcpy(dst, reinterpret_cast<const void*>(src), n);
  guard = nullptr;
  return true;
}

// The layouts (engine/uapi; spec 2.x): what each argument points at.
void NestedIn(uint32_t request, const std::string& a, std::vector<UserRange>* in) {
  using namespace uapi;
  switch (request) {
    case kPanthorIoctlVmBind: {
      const auto b = As<PanthorVmBind>(a);
      AddArray(b.ops.array, b.ops.count, b.ops.stride, in);
      const std::string ops = ReadArray(b.ops);
      for (size_t at = 0; !ops.empty() && at + sizeof(PanthorVmBindOp) <= ops.size(); at += b.ops.stride) {
        const auto op = As<PanthorVmBindOp>(ops, at);
        AddArray(op.syncs.array, op.syncs.count, op.syncs.stride, in);
      }
      break;
    }
    case kPanthorIoctlGroupSubmit: {
      const auto s = As<PanthorGroupSubmit>(a);
      AddArray(s.queue_submits.array, s.queue_submits.count, s.queue_submits.stride, in);
      const std::string subs = ReadArray(s.queue_submits);
      for (size_t at = 0; !subs.empty() && at + sizeof(PanthorQueueSubmit) <= subs.size();
           at += s.queue_submits.stride) {
        const auto q = As<PanthorQueueSubmit>(subs, at);
        AddArray(q.syncs.array, q.syncs.count, q.syncs.stride, in);
      }
      break;
    }
    case kPanthorIoctlGroupCreate: {
      const auto g = As<PanthorGroupCreate>(a);
      AddArray(g.queues.array, g.queues.count, g.queues.stride, in);
      break;
    }
    case kDrmIoctlSyncobjWait: {
      const auto w = As<DrmSyncobjWait>(a);
      AddArray(w.handles, w.count_handles, 4, in);
      break;
    }
    case kDrmIoctlSyncobjTimelineWait: {
      const auto w = As<DrmSyncobjTimelineWait>(a);
      AddArray(w.handles, w.count_handles, 4, in);
      AddArray(w.points, w.count_handles, 8, in);
      break;
    }
    case kDrmIoctlSyncobjReset:
    case kDrmIoctlSyncobjSignal: {
      const auto s = As<DrmSyncobjArray>(a);
      AddArray(s.handles, s.count_handles, 4, in);
      break;
    }
    case kDrmIoctlSyncobjTimelineSignal: {
      const auto s = As<DrmSyncobjTimelineArray>(a);
      AddArray(s.handles, s.count_handles, 4, in);
      AddArray(s.points, s.count_handles, 8, in);
      break;
    }
    case kDrmIoctlSyncobjQuery: {
      const auto s = As<DrmSyncobjTimelineArray>(a);
      AddArray(s.handles, s.count_handles, 4, in);
      break;
    }
    default: break;
  }
}

void NestedOut(uint32_t request, const std::string& a, const std::string& o, int result,
               std::vector<UserRange>* out) {
  using namespace uapi;
  if (result < 0) return;
  switch (request) {
    case kDrmIoctlVersion: {
      // drm_copy_field(): min(the buffer, the string) bytes, the full length back.
      const auto in = As<DrmVersion>(a), got = As<DrmVersion>(o);
      AddArray(in.name, std::min(in.name_len, got.name_len), 1, out);
      AddArray(in.date, std::min(in.date_len, got.date_len), 1, out);
      AddArray(in.desc, std::min(in.desc_len, got.desc_len), 1, out);
      break;
    }
    case kDrmIoctlGetUnique: {
      const auto in = As<DrmUnique>(a), got = As<DrmUnique>(o);
      if (in.unique_len >= got.unique_len) AddArray(in.unique, got.unique_len, 1, out);
      break;
    }
    case kPanthorIoctlDevQuery: {
      const auto in = As<PanthorDevQuery>(a);
      AddArray(in.pointer, in.size, 1, out);
      break;
    }
    case kDrmIoctlSyncobjQuery: {
      const auto s = As<DrmSyncobjTimelineArray>(a);
      AddArray(s.points, s.count_handles, 8, out);
      break;
    }
    default: break;
  }
}

// --- the recorder -----------------------------------------------------------

Capture::Capture(std::unique_ptr<trace::FileSink> sink, const trace::TraceHeader& header)
    : sink_(std::move(sink)), t0_(Now()) {
  writer_ = std::make_unique<trace::TraceWriter>(sink_.get(), header);
}

void Capture::Append(trace::Event& e) {
  e.virtual_ns = static_cast<uint64_t>(Now() - t0_);  // host ns since the capture began
  ++events_;
  if (status_.ok()) status_ = writer_->Append(e);
}

uint32_t Capture::Open(bool primary) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint32_t id = ++next_file_;
  const std::string label = absl::StrCat("open:", id, ":", primary ? "primary" : "render");
  trace::Event e;
  e.kind = trace::EVENT_MARKER;
  e.marker = {trace::MARKER_NOTE, id, label};
  Append(e);
  return id;
}

void Capture::Close(uint32_t file) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string label = absl::StrCat("close:", file);
  trace::Event e;
  e.kind = trace::EVENT_MARKER;
  e.marker = {trace::MARKER_NOTE, file, label};
  Append(e);
}

void Capture::Note(const std::string& label) {
  std::lock_guard<std::mutex> lock(mu_);
  trace::Event e;
  e.kind = trace::EVENT_MARKER;
  e.marker = {trace::MARKER_NOTE, 0, label};
  Append(e);
}

void Capture::Begin(Call* c, uint32_t file, uint32_t request, const void* arg) {
  c->file = file;
  c->request = request;
  const uint32_t size = uapi::IocSize(request);
  if ((uapi::IocDir(request) & uapi::kIocWrite) && size) {
    c->arg_in.resize(size);
    if (!SafeRead(c->arg_in.data(), reinterpret_cast<uint64_t>(arg), size)) c->arg_in.clear();  // copy-in faults
  }
  if (!c->arg_in.empty()) {
    std::vector<UserRange> in;
    NestedIn(request, c->arg_in, &in);
    for (const UserRange& r : in) {
      std::string bytes(r.length, '\0');
      if (SafeRead(bytes.data(), r.address, r.length)) c->in.emplace_back(r.address, std::move(bytes));
    }
    if (request == uapi::kPanthorIoctlGroupSubmit) RecordStreams(*c);
  }
  c->start_ns = Now();
}

void Capture::End(Call* c, const void* arg, int result) {
  const int64_t end = Now();
  std::string arg_out;
  const uint32_t size = uapi::IocSize(c->request);
  if ((uapi::IocDir(c->request) & uapi::kIocRead) && size && !c->arg_in.empty()) {
    arg_out.resize(size);
    if (!SafeRead(arg_out.data(), reinterpret_cast<uint64_t>(arg), size)) arg_out.clear();
  }
  std::vector<UserRange> out_ranges;
  NestedOut(c->request, c->arg_in, arg_out, result, &out_ranges);
  std::vector<std::pair<uint64_t, std::string>> outs;
  for (const UserRange& r : out_ranges) {
    std::string bytes(r.length, '\0');
    if (SafeRead(bytes.data(), r.address, r.length)) outs.emplace_back(r.address, std::move(bytes));
  }
  std::lock_guard<std::mutex> lock(mu_);
  trace::Event e;
  e.kind = trace::EVENT_IOCTL;
  e.ioctl.file = c->file;
  e.ioctl.request = c->request;
  e.ioctl.result = result;
  e.ioctl.arg_in = c->arg_in;
  e.ioctl.arg_out = arg_out;
  for (const auto& [addr, bytes] : c->in) e.ioctl.user_in.push_back({addr, bytes});
  for (const auto& [addr, bytes] : outs) e.ioctl.user_out.push_back({addr, bytes});
  e.ioctl.recorded_ns = static_cast<uint64_t>(c->start_ns);
  e.ioctl.duration_ns = static_cast<uint64_t>(end - c->start_ns);
  Append(e);
  if (result >= 0) Learn(*c, arg_out, result);
}

// The mirror of what the kernel now holds, from calls that succeeded.
void Capture::Learn(const Call& c, const std::string& out, int) {
  using namespace uapi;
  const uint32_t f = c.file;
  switch (c.request) {
    case kPanthorIoctlBoMmapOffset: {
      const auto m = As<PanthorBoMmapOffset>(out);
      mmap_offsets_[{f, m.handle}] = m.offset;
      offset_handles_[{f, m.offset}] = m.handle;
      break;
    }
    case kPanthorIoctlGroupCreate: {
      const auto g = As<PanthorGroupCreate>(out);
      group_vms_[{f, g.group_handle}] = g.vm_id;
      break;
    }
    case kPanthorIoctlVmBind: {
      const auto b = As<PanthorVmBind>(c.arg_in);
      const std::string* ops = nullptr;
      for (const auto& [addr, bytes] : c.in) {
        if (addr == b.ops.array) ops = &bytes;
      }
      if (!ops || !b.ops.stride) break;
      auto& vm = binds_[{f, b.vm_id}];
      for (size_t at = 0; at + sizeof(PanthorVmBindOp) <= ops->size(); at += b.ops.stride) {
        const auto op = As<PanthorVmBindOp>(*ops, at);
        const uint32_t type = op.flags & kPanthorVmBindOpTypeMask;
        if (type != kPanthorVmBindOpTypeMap && type != kPanthorVmBindOpTypeUnmap) continue;
        // drm_gpuvm: what the new range covers is unmapped first (split at its edges).
        const uint64_t lo = op.va, hi = op.va + op.size;
        std::vector<std::pair<uint64_t, Bind>> keep;
        for (auto it = vm.begin(); it != vm.end();) {
          const uint64_t a = it->first, z = it->first + it->second.size;
          if (z <= lo || a >= hi) {
            ++it;
            continue;
          }
          if (a < lo) keep.push_back({a, Bind{lo - a, it->second.handle, it->second.bo_offset}});
          if (z > hi) keep.push_back({hi, Bind{z - hi, it->second.handle, it->second.bo_offset + (hi - a)}});
          it = vm.erase(it);
        }
        for (auto& [va, bind] : keep) vm[va] = bind;
        if (type == kPanthorVmBindOpTypeMap) vm[op.va] = Bind{op.size, op.bo_handle, op.bo_offset};
      }
      break;
    }
    default: break;
  }
}

bool Capture::VaToCpu(uint32_t file, uint32_t vm, uint64_t va, uint64_t n, uint64_t* cpu) const {
  auto v = binds_.find({file, vm});
  if (v == binds_.end()) return false;
  auto it = v->second.upper_bound(va);
  if (it == v->second.begin()) return false;
  --it;
  if (va + n > it->first + it->second.size) return false;
  auto off = mmap_offsets_.find({file, it->second.handle});
  if (off == mmap_offsets_.end()) return false;
  const uint64_t want = off->second + it->second.bo_offset + (va - it->first);
  for (const auto& [addr, m] : maps_) {
    if (m.file == file && want >= m.offset && want + n <= m.offset + m.length) {
      *cpu = addr + (want - m.offset);
      return true;
    }
  }
  return false;
}

std::vector<uint64_t> Capture::BoToVas(uint32_t file, uint32_t vm, uint64_t offset) const {
  std::vector<uint64_t> vas;
  auto h = offset_handles_.upper_bound({file, offset});
  if (h == offset_handles_.begin()) return vas;
  --h;
  if (h->first.first != file) return vas;
  const uint32_t handle = h->second;
  const uint64_t bo_off = offset - h->first.second;
  auto v = binds_.find({file, vm});
  if (v == binds_.end()) return vas;
  for (const auto& [va, b] : v->second) {
    if (b.handle == handle && bo_off >= b.bo_offset && bo_off < b.bo_offset + b.size) {
      vas.push_back(va + (bo_off - b.bo_offset));
    }
  }
  return vas;
}

// A GROUP_SUBMIT's streams, as the GPU will fetch them: the words through the
// program's mapping of the BO behind each stream's VA, and, with the first,
// the pages the CPU changed through its mappings since the last submit.
void Capture::RecordStreams(const Call& c) {
  const auto s = As<uapi::PanthorGroupSubmit>(c.arg_in);
  const std::string* subs = nullptr;
  for (const auto& [addr, bytes] : c.in) {
    if (addr == s.queue_submits.array) subs = &bytes;
  }
  if (!subs || !s.queue_submits.stride) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto g = group_vms_.find({c.file, s.group_handle});
  const uint32_t vm = g == group_vms_.end() ? 0 : g->second;
  std::vector<std::pair<uint64_t, std::string>> writes;
  for (auto& [addr, m] : maps_) {
    if (m.file != c.file || !m.writable_shared) continue;
    std::string now(m.length, '\0');
    if (!SafeRead(now.data(), addr, m.length)) continue;
    for (uint64_t at = 0; at < m.length; at += 4096) {
      const uint64_t n = std::min<uint64_t>(4096, m.length - at);
      if (memcmp(now.data() + at, m.shadow.data() + at, n) == 0) continue;
      for (uint64_t va : BoToVas(c.file, vm, m.offset + at)) writes.emplace_back(va, now.substr(at, n));
    }
    m.shadow = std::move(now);
  }
  bool first = true;
  for (size_t at = 0; at + sizeof(uapi::PanthorQueueSubmit) <= subs->size(); at += s.queue_submits.stride) {
    const auto q = As<uapi::PanthorQueueSubmit>(*subs, at);
    std::string words;
    uint64_t cpu = 0;
    if (q.stream_size && VaToCpu(c.file, vm, q.stream_addr, q.stream_size, &cpu)) {
      words.resize(q.stream_size);
      if (!SafeRead(words.data(), cpu, words.size())) words.clear();
    }
    trace::Event e;
    e.kind = trace::EVENT_CS_SUBMIT;
    e.cs_submit.group = s.group_handle;
    e.cs_submit.queue = q.queue_index;
    e.cs_submit.stream_va = q.stream_addr;
    e.cs_submit.words = words;
    if (first) {
      for (const auto& [va, bytes] : writes) e.cs_submit.reads.push_back({va, bytes});
    }
    first = false;
    Append(e);
  }
}

void Capture::Mapped(uint32_t file, void* addr, uint64_t offset, uint64_t length, int prot, int flags, int result) {
  std::lock_guard<std::mutex> lock(mu_);
  trace::Event e;
  e.kind = trace::EVENT_CPU_MAP;
  e.cpu_map.file = file;
  e.cpu_map.offset = offset;
  e.cpu_map.length_bytes = length;
  e.cpu_map.result = result;
  auto h = offset_handles_.upper_bound({file, offset});
  if (h != offset_handles_.begin() && std::prev(h)->first.first == file) e.cpu_map.handle = std::prev(h)->second;
  Append(e);
  if (result < 0) return;
  Map m{file, offset, length, (prot & PROT_WRITE) && (flags & MAP_SHARED), std::string()};
  m.shadow.resize(length);
  if (!SafeRead(m.shadow.data(), reinterpret_cast<uint64_t>(addr), length)) m.shadow.assign(length, '\0');
  maps_[reinterpret_cast<uintptr_t>(addr)] = std::move(m);
}

void Capture::Unmapped(void* addr) {
  std::lock_guard<std::mutex> lock(mu_);
  maps_.erase(reinterpret_cast<uintptr_t>(addr));
}

void Capture::GpuRan() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [addr, m] : maps_) {
    if (m.writable_shared) SafeRead(m.shadow.data(), addr, m.length);
  }
}

absl::Status Capture::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  trace::Event e;
  e.kind = trace::EVENT_MARKER;
  e.marker = {trace::MARKER_NOTE, 0, "end"};
  Append(e);
  if (status_.ok()) status_ = writer_->Finish();
  if (status_.ok()) status_ = sink_->Close();
  return status_;
}

}  // namespace faultlab::shim
