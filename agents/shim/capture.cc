#include "agents/shim/capture.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/ioc.h"
#include "engine/uapi/ioctls.h"
#include "engine/uapi/panthor.h"

namespace faultlab::shim {

namespace {

// --- guarded reads ----------------------------------------------------------

// Volatile: the handler reads it, and the compiler, seeing no reader
// between `guard = &here` and `guard = nullptr` but a memcpy, may drop the
// first store (gcc for arm64 did: a guarded read then killed the program).
thread_local sigjmp_buf* volatile guard = nullptr;
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

template <typename T>
T As(const std::string& s, size_t at = 0) {
  T v{};
  if (s.size() >= at + sizeof(T)) memcpy(&v, s.data() + at, sizeof(T));
  return v;
}

// The table row's id of `request`, or kCount for one it does not have.
uapi::IoctlId IdOf(uint32_t request) {
  const uapi::IoctlDesc* d = uapi::FindIoctl(request);
  return d ? d->id : uapi::IoctlId::kCount;
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
  std::atomic_signal_fence(std::memory_order_seq_cst);  // the copy stays inside the guard
  memcpy(dst, reinterpret_cast<const void*>(src), n);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  guard = nullptr;
  return true;
}

bool SafeCompare(uint64_t a, const void* b, size_t n, int* same) {
  if (a == 0) return false;
  sigjmp_buf here;
  if (sigsetjmp(here, 0) != 0) {
    guard = nullptr;
    return false;
  }
  guard = &here;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  *same = memcmp(reinterpret_cast<const void*>(a), b, n) == 0;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  guard = nullptr;
  return true;
}

// What an argument points at, from the ioctl table's layouts (uapi/ioctls.h):
// arrays are read here for the pointers their elements hold.
void NestedIn(uint32_t request, const std::string& arg_in, std::vector<uapi::UserRange>* in) {
  if (const uapi::IoctlDesc* d = uapi::FindIoctl(request)) {
    uapi::UserRanges(*d, uapi::Nested::Dir::kIn, arg_in, "", 0, SafeRead, in);
  }
}

void NestedOut(uint32_t request, const std::string& arg_in, const std::string& arg_out, int result,
               std::vector<uapi::UserRange>* out) {
  if (const uapi::IoctlDesc* d = uapi::FindIoctl(request)) {
    uapi::UserRanges(*d, uapi::Nested::Dir::kOut, arg_in, arg_out, result, SafeRead, out);
  }
}

// --- the recorder -----------------------------------------------------------

Capture::Capture(std::unique_ptr<trace::FileSink> sink, const trace::TraceHeader& header)
    : sink_(std::move(sink)), t0_(Now()) {
  writer_ = std::make_unique<trace::TraceWriter>(sink_.get(), header);
  thread_ = std::thread([this] { WriteLoop(); });
}

void Capture::Append(Record& r, int64_t now) {
  r.t = static_cast<uint64_t>(std::max<int64_t>(now - t0_, 0));  // host ns since the capture began
  queue_.records.push_back(r);
  if (queue_.records.size() == 1024) queued_.notify_one();
  // A writer that falls far behind slows the program down; nothing is dropped.
  while (queue_.records.size() >= 65536 && !stop_) {
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    queued_.notify_one();
    drained_.wait(lock);
    lock.release();
  }
}

void Capture::WriteLoop() {
  Batch batch;
  uint64_t last_ns = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      queued_.wait_for(lock, std::chrono::milliseconds(20),
                       [this] { return stop_ || queue_.records.size() >= 1024; });
      std::swap(batch, queue_);
      drained_.notify_all();
      if (batch.records.empty() && stop_) return;
    }
    const std::string& bytes = batch.bytes;
    for (const Record& r : batch.records) {
      trace::Event e;
      e.kind = r.kind;
      // Calls that block (waits) end out of order; time never goes back in a trace.
      e.virtual_ns = std::max(r.t, last_ns);
      last_ns = e.virtual_ns;
      const absl::string_view a(bytes.data() + r.a, r.a_len), b(bytes.data() + r.b, r.b_len);
      auto spans = [&](size_t first, size_t n, std::vector<trace::UserBytes>* to) {
        for (size_t i = first; i < first + n; ++i) {
          const Span& sp = batch.spans[i];
          to->push_back({sp.address, absl::string_view(bytes.data() + sp.at, sp.length)});
        }
      };
      switch (e.kind) {
        case trace::EVENT_IOCTL:
          e.ioctl.file = r.x;
          e.ioctl.request = r.y;
          e.ioctl.result = r.result;
          e.ioctl.recorded_ns = r.p;
          e.ioctl.duration_ns = r.q;
          e.ioctl.arg_in = a;
          e.ioctl.arg_out = b;
          spans(r.spans, r.in_n, &e.ioctl.user_in);
          spans(r.spans + r.in_n, r.out_n, &e.ioctl.user_out);
          break;
        case trace::EVENT_MARKER:
          e.marker = {trace::MARKER_NOTE, r.p, a};
          break;
        case trace::EVENT_FILE:
          e.file_op = {r.x, static_cast<trace::FileNode>(r.y), r.z != 0};
          break;
        case trace::EVENT_CPU_MAP:
          e.cpu_map.file = r.x;
          e.cpu_map.handle = r.y;
          e.cpu_map.result = r.result;
          e.cpu_map.offset = r.p;
          e.cpu_map.length_bytes = r.q;
          break;
        case trace::EVENT_MMU_FAULT:
          e.fault.as = r.x;
          e.fault.status = r.y;
          e.fault.outcome = static_cast<trace::FaultOutcome>(r.result);
          e.fault.address = r.p;
          e.fault.latency_ns = r.q;
          e.fault.latency_source = static_cast<trace::LatencySource>(r.z);
          e.fault.vm = r.w;
          e.fault.raised_ns = r.raised;
          e.fault.work_ns = r.work;
          break;
        case trace::EVENT_CS_SUBMIT:
          e.cs_submit.group = r.x;
          e.cs_submit.queue = r.y;
          e.cs_submit.stream_va = r.p;
          e.cs_submit.words = a;
          spans(r.spans, r.in_n, &e.cs_submit.reads);
          break;
        default:
          break;
      }
      if (status_.ok()) status_ = writer_->Append(e);
    }
    batch.records.clear();
    batch.bytes.clear();
    batch.spans.clear();
  }
}

void Capture::Marker(uint32_t id, std::string label) {
  Record r;
  r.kind = trace::EVENT_MARKER;
  r.p = id;
  r.a_len = label.size();
  r.a = queue_.Put(label.data(), label.size());
  Append(r, Now());
}

void Capture::File(uint32_t file, bool primary, bool close) {  // under mu_
  Record r;
  r.kind = trace::EVENT_FILE;
  r.x = file;
  r.y = primary ? trace::NODE_PRIMARY : trace::NODE_RENDER;
  r.z = close;
  Append(r, Now());
}

uint32_t Capture::Open(bool primary) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint32_t id = ++next_file_;
  primary_[id] = primary;
  File(id, primary, /*close=*/false);
  return id;
}

void Capture::Close(uint32_t file) {
  std::lock_guard<std::mutex> lock(mu_);
  File(file, primary_[file], /*close=*/true);
  primary_.erase(file);
}

void Capture::Note(const std::string& label) {
  std::lock_guard<std::mutex> lock(mu_);
  Marker(0, label);
}

const std::string* Capture::Call::InAt(uint64_t address, std::string* scratch) const {
  size_t at = 0;
  for (const UserRange& r : in) {
    if (r.address == address) {
      scratch->assign(in_bytes, at, r.length);
      return scratch;
    }
    at += r.length;
  }
  return nullptr;
}

namespace {

// Reads `ranges` into `bytes` (concatenated); drops the ranges it cannot read.
void ReadRanges(std::vector<UserRange>* ranges, std::string* bytes) {
  bytes->clear();
  size_t kept = 0;
  for (const UserRange& r : *ranges) {
    const size_t at = bytes->size();
    bytes->resize(at + r.length);
    if (SafeRead(bytes->data() + at, r.address, r.length)) {
      (*ranges)[kept++] = r;
    } else {
      bytes->resize(at);
    }
  }
  ranges->resize(kept);
}

}  // namespace

void Capture::Begin(Call* c, uint32_t file, uint32_t request, const void* arg) {
  c->file = file;
  c->request = request;
  c->arg_in.clear();
  c->in.clear();
  const uint32_t size = uapi::IocSize(request);
  if ((uapi::IocDir(request) & uapi::kIocWrite) && size) {
    c->arg_in.resize(size);
    if (!SafeRead(c->arg_in.data(), reinterpret_cast<uint64_t>(arg), size))
      c->arg_in.clear();  // copy-in faults
  }
  if (!c->arg_in.empty()) {
    NestedIn(request, c->arg_in, &c->in);
    ReadRanges(&c->in, &c->in_bytes);
    if (IdOf(request) == uapi::IoctlId::kGroupSubmit) RecordStreams(*c);
  }
  c->start_ns = Now();
}

void Capture::End(Call* c, const void* arg, int result) {
  const int64_t end = Now();
  c->arg_out.clear();
  c->out.clear();
  const uint32_t size = uapi::IocSize(c->request);
  if ((uapi::IocDir(c->request) & uapi::kIocRead) && size && !c->arg_in.empty()) {
    c->arg_out.resize(size);
    if (!SafeRead(c->arg_out.data(), reinterpret_cast<uint64_t>(arg), size)) c->arg_out.clear();
  }
  NestedOut(c->request, c->arg_in, c->arg_out, result, &c->out);
  ReadRanges(&c->out, &c->out_bytes);
  std::lock_guard<std::mutex> lock(mu_);
  if (result >= 0) Learn(*c, c->arg_out);
  Record r;
  r.kind = trace::EVENT_IOCTL;
  r.x = c->file;
  r.y = c->request;
  r.result = result;
  r.p = static_cast<uint64_t>(c->start_ns);
  r.q = static_cast<uint64_t>(end - c->start_ns);
  Batch& q = queue_;
  r.a_len = c->arg_in.size();
  r.a = q.Put(c->arg_in.data(), r.a_len);
  r.b_len = c->arg_out.size();
  r.b = q.Put(c->arg_out.data(), r.b_len);
  r.spans = q.spans.size();
  r.in_n = c->in.size();
  r.out_n = c->out.size();
  size_t at = q.Put(c->in_bytes.data(), c->in_bytes.size());
  for (const UserRange& u : c->in) {
    q.spans.push_back({u.address, at, u.length});
    at += u.length;
  }
  at = q.Put(c->out_bytes.data(), c->out_bytes.size());
  for (const UserRange& u : c->out) {
    q.spans.push_back({u.address, at, u.length});
    at += u.length;
  }
  Append(r, end);
}

// The mirror of what the kernel now holds, from calls that succeeded.
void Capture::Learn(const Call& c, const std::string& out) {
  using namespace uapi;
  const uint32_t f = c.file;
  switch (IdOf(c.request)) {
    case IoctlId::kBoMmapOffset: {
      const auto m = As<PanthorBoMmapOffset>(out);
      mmap_offsets_[{f, m.handle}] = m.offset;
      offset_handles_[{f, m.offset}] = m.handle;
      break;
    }
    case IoctlId::kGroupCreate: {
      const auto g = As<PanthorGroupCreate>(out);
      group_vms_[{f, g.group_handle}] = g.vm_id;
      break;
    }
    case IoctlId::kVmBind: {
      const auto b = As<PanthorVmBind>(c.arg_in);
      std::string scratch;
      const std::string* ops = c.InAt(b.ops.array, &scratch);
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
          if (z > hi)
            keep.push_back({hi, Bind{z - hi, it->second.handle, it->second.bo_offset + (hi - a)}});
          it = vm.erase(it);
        }
        for (auto& [va, bind] : keep) vm[va] = bind;
        if (type == kPanthorVmBindOpTypeMap) vm[op.va] = Bind{op.size, op.bo_handle, op.bo_offset};
      }
      break;
    }
    default:
      break;
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
  std::string scratch;
  const std::string* subs = c.InAt(s.queue_submits.array, &scratch);
  if (!subs || !s.queue_submits.stride) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto g = group_vms_.find({c.file, s.group_handle});
  const uint32_t vm = g == group_vms_.end() ? 0 : g->second;
  std::vector<std::pair<uint64_t, std::string>> writes;
  for (auto& [addr, m] : maps_) {
    if (m.file != c.file || !m.writable_shared) continue;
    // Page by page against the shadow, in place: unchanged pages cost a compare.
    for (uint64_t at = 0; at < m.length; at += 4096) {
      const uint64_t n = std::min<uint64_t>(4096, m.length - at);
      int same = 0;
      if (!SafeCompare(addr + at, m.shadow.data() + at, n, &same))
        break;  // unmapped behind our back
      if (same) continue;
      SafeRead(m.shadow.data() + at, addr + at, n);
      for (uint64_t va : BoToVas(c.file, vm, m.offset + at))
        writes.emplace_back(va, m.shadow.substr(at, n));
    }
  }
  bool first = true;
  for (size_t at = 0; at + sizeof(uapi::PanthorQueueSubmit) <= subs->size();
       at += s.queue_submits.stride) {
    const auto q = As<uapi::PanthorQueueSubmit>(*subs, at);
    std::string words;
    uint64_t cpu = 0;
    if (q.stream_size && VaToCpu(c.file, vm, q.stream_addr, q.stream_size, &cpu)) {
      words.resize(q.stream_size);
      if (!SafeRead(words.data(), cpu, words.size())) words.clear();
    }
    Record r;
    r.kind = trace::EVENT_CS_SUBMIT;
    r.x = s.group_handle;
    r.y = q.queue_index;
    r.p = q.stream_addr;
    r.a_len = words.size();
    r.a = queue_.Put(words.data(), words.size());
    r.spans = queue_.spans.size();
    if (first) {
      for (const auto& [va, bytes] : writes)
        queue_.spans.push_back({va, queue_.Put(bytes.data(), bytes.size()), bytes.size()});
      r.in_n = writes.size();
    }
    first = false;
    Append(r, Now());
  }
}

void Capture::Mapped(uint32_t file, void* addr, uint64_t offset, uint64_t length, int prot,
                     int flags, int result) {
  std::lock_guard<std::mutex> lock(mu_);
  Record r;
  r.kind = trace::EVENT_CPU_MAP;
  r.x = file;
  r.result = result;
  r.p = offset;
  r.q = length;
  auto h = offset_handles_.upper_bound({file, offset});
  if (h != offset_handles_.begin() && std::prev(h)->first.first == file) r.y = std::prev(h)->second;
  Append(r, Now());
  if (result < 0) return;
  Map m{file, offset, length, (prot & PROT_WRITE) && (flags & MAP_SHARED), std::string()};
  m.shadow.resize(length);
  if (!SafeRead(m.shadow.data(), reinterpret_cast<uint64_t>(addr), length))
    m.shadow.assign(length, '\0');
  maps_[reinterpret_cast<uintptr_t>(addr)] = std::move(m);
}

void Capture::Unmapped(void* addr) {
  std::lock_guard<std::mutex> lock(mu_);
  maps_.erase(reinterpret_cast<uintptr_t>(addr));
}

void Capture::GpuRan() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [addr, m] : maps_) {
    if (!m.writable_shared) continue;
    for (uint64_t at = 0; at < m.length; at += 4096) {  // copy only what changed
      const uint64_t n = std::min<uint64_t>(4096, m.length - at);
      int same = 0;
      if (!SafeCompare(addr + at, m.shadow.data() + at, n, &same)) break;
      if (!same) SafeRead(m.shadow.data() + at, addr + at, n);
    }
  }
}

void Capture::KernelFacts(const std::string& marker, const std::vector<Fact>& facts) {
  std::lock_guard<std::mutex> lock(mu_);
  Marker(0, marker);
  const int64_t now = Now();
  for (const Fact& f : facts) {
    Record r;
    r.kind = trace::EVENT_MMU_FAULT;
    r.x = static_cast<uint32_t>(f.as < 0 ? 0 : f.as);
    r.y = f.status;
    r.result = f.outcome;
    r.p = f.va;
    r.q = f.latency_ns;
    r.z = f.measured ? trace::LATENCY_RECORDED : trace::LATENCY_UNKNOWN;
    r.w = f.vm;
    r.work = f.work_ns;
    // Events stay in time order: a fact sits at the end, with the fault's
    // own time when it lies within the capture (a kprobe text of another
    // clock does not).
    const int64_t t = static_cast<int64_t>(f.time_ns);
    if (t >= t0_ && t <= now) r.raised = static_cast<uint64_t>(std::max<int64_t>(t - t0_, 1));
    Append(r, now);
  }
}

absl::Status Capture::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    Marker(0, "end");
    stop_ = true;
    queued_.notify_one();
  }
  thread_.join();
  if (status_.ok()) status_ = writer_->Finish();
  if (status_.ok()) status_ = sink_->Close();
  return status_;
}

}  // namespace faultlab::shim
