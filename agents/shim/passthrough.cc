#include "agents/shim/passthrough.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agents/shim/fake_fs.h"
#include "agents/shim/real.h"
#include "engine/replay/config.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/ioctls.h"
#include "engine/uapi/panthor.h"
#include "lib/host/host.h"

namespace faultlab::shim {

namespace {

using uapi::IoctlId;

IoctlId IdOf(uint32_t request) {
  const uapi::IoctlDesc* d = uapi::FindIoctl(request);
  return d ? d->id : IoctlId::kCount;
}

trace::ConfigEntry Entry(const std::string& k, const std::string& v) {
  trace::ConfigEntry e;
  e.set_key(k);
  e.set_value(v);
  return e;
}

// The built-in profile of a GPU id: the exact one, else one of its product.
std::string ProfileForGpu(uint32_t gpu_id) {
  std::string by_product;
  for (const std::string& id : profiles::BuiltinProfileIds()) {
    auto p = profiles::LoadProfile(id);
    if (!p.ok()) continue;
    if (p->gpu_info.gpu_id == gpu_id) return id;
    if (by_product.empty() && (p->gpu_info.gpu_id >> 16) == (gpu_id >> 16)) by_product = id;
  }
  return by_product;
}

}  // namespace

Passthrough::Passthrough(std::unique_ptr<Backend> backend) : backend_(std::move(backend)) {
  for (auto& id : ids_) id.store(0, std::memory_order_relaxed);
}

const profiles::Profile& Passthrough::profile() {
  std::call_once(profile_once_, [this] {
    auto p = profiles::LoadProfile(backend_->LoopbackProfile());
    if (!p.ok()) p = profiles::LoadProfile(profiles::kDefaultProfile);
    profile_ = *p;
  });
  return profile_;
}

int Passthrough::Open(const char* path, int node, int flags, mode_t mode) {
  const int fd = backend_->Open(path, node, flags, mode);
  if (fd < 0) return fd;
  std::lock_guard<std::mutex> lock(mu_);
  StartCapture();
  const uint32_t file = cap() ? cap()->Open(node == 0) : ++untraced_files_;
  Set(fd, file);
  refs_[file] = 1;
  nodes_[file] = node;
  if (Logging()) Log(absl::StrCat("passthrough open ", path, " -> fd ", fd, " (file ", file, ")"));
  return fd;
}

uint32_t Passthrough::FileOf(int fd) const {
  if (fd >= 0 && fd < kFast) return ids_[fd].load(std::memory_order_acquire);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = slow_ids_.find(fd);
  return it == slow_ids_.end() ? 0 : it->second;
}

int Passthrough::NodeOf(uint32_t file) {
  std::lock_guard<std::mutex> lock(mu_);
  return nodes_[file];
}

void Passthrough::Alias(int from, int to) {
  const uint32_t file = FileOf(from);
  if (!file || to < 0) return;
  if (FileOf(to)) Forget(to);
  std::lock_guard<std::mutex> lock(mu_);
  Set(to, file);
  ++refs_[file];
}

void Passthrough::Forget(int fd) {
  const uint32_t file = FileOf(fd);
  if (!file) return;
  std::lock_guard<std::mutex> lock(mu_);
  Set(fd, 0);
  if (--refs_[file] == 0) {
    refs_.erase(file);
    // drm_release() runs when the last call on the file returns, too.
    if (in_flight_[file] == 0) Closed(file);
  }
}

void Passthrough::Set(int fd, uint32_t file) {
  if (fd >= 0 && fd < kFast) {
    ids_[fd].store(file, std::memory_order_release);
  } else if (file) {
    slow_ids_[fd] = file;
  } else {
    slow_ids_.erase(fd);
  }
}

// Waits in progress on a file: a close during one is recorded after it.
void Passthrough::InFlight(uint32_t file, int delta) {
  std::lock_guard<std::mutex> lock(mu_);
  if ((in_flight_[file] += delta) == 0 && delta < 0 && !refs_.count(file)) Closed(file);
}

void Passthrough::Closed(uint32_t file) {
  in_flight_.erase(file);
  if (cap()) cap()->Close(file);
}

int Passthrough::Ioctl(int fd, uint32_t file, unsigned long request, void* arg) {
  const uint32_t req = static_cast<uint32_t>(request);
  const IoctlId id = IdOf(req);
  const bool wait = id == IoctlId::kSyncobjWait || id == IoctlId::kSyncobjTimelineWait;
  std::unique_lock<std::mutex> order(order_, std::defer_lock);
  if (!wait) order.lock();
  if (id == IoctlId::kBoCreate && series_ == "absent") FlagAllocOnFault(arg);
  uapi::PanthorBoCreate asked{};
  const bool converted = id == IoctlId::kBoCreate && aof_ && ConvertBo(arg, &asked);
  thread_local Capture::Call call;  // reused: its buffers stay allocated
  Capture* capture = cap();
  if (wait) InFlight(file, +1);
  if (capture) capture->Begin(&call, file, req, arg);
  const int ret = backend_->Ioctl(fd, request, arg);
  // A wait is recorded after the call that released it (which holds the
  // order until it is recorded), as a replay must repeat them.
  if (wait) order.lock();
  if (capture) {
    capture->End(&call, arg, ret);
    if (wait || id == IoctlId::kGroupSubmit) capture->GpuRan();
  }
  if (wait) InFlight(file, -1);
  if (converted) RestoreBo(arg, asked);
  return ret;
}

void Passthrough::ProgramAof(std::vector<trace::ConfigEntry>* config) {
  const char* text = std::getenv("FAULTLAB_AOF");
  if (!text || !*text) return;
  const char* g = std::getenv("FAULTLAB_AOF_GRANULARITY");
  if (series_ != "present") {
    fprintf(stderr,
            "faultlab-shim: FAULTLAB_AOF=%s: this kernel has no alloc-on-fault series (%s); the "
            "program's BOs stay as it asks\n",
            text, series_ == "absent" ? "driver 1.7+ or the flag refused" : "not probed");
    return;
  }
  absl::StatusOr<replay::ProgramAof> aof =
      replay::ParseProgramAof(text, g ? g : "", Variant::kSeriesFixed);
  if (!aof.ok()) {
    fprintf(stderr, "faultlab-shim: FAULTLAB_AOF=%s: %s; the program's BOs stay as it asks\n", text,
            std::string(aof.status().message()).c_str());
    return;
  }
  aof_ = aof->selector;
  aof_granularity_ = aof->granularity;
  config->push_back(Entry("program_aof", aof_->text));
  config->push_back(Entry("program_aof_granularity", absl::StrCat(aof_granularity_)));
}

bool Passthrough::ConvertBo(void* arg, uapi::PanthorBoCreate* asked) {
  if (!SafeRead(asked, reinterpret_cast<uint64_t>(arg), sizeof(*asked))) return false;
  uapi::PanthorBoCreate bc = *asked;
  if (!replay::ConvertToAof(*aof_, aof_granularity_, nullptr, &bc)) return false;
  // The kernel (and the trace) see the converted request, as the twin's do
  // (emulate.cc); the program gets its own flags back with the answer.
  auto* user = static_cast<uapi::PanthorBoCreate*>(arg);
  user->flags = bc.flags;
  user->alloc_on_fault_granularity = bc.alloc_on_fault_granularity;
  return true;
}

void Passthrough::RestoreBo(void* arg, const uapi::PanthorBoCreate& asked) {
  auto* user = static_cast<uapi::PanthorBoCreate*>(arg);
  user->flags = asked.flags;
  user->alloc_on_fault_granularity = asked.alloc_on_fault_granularity;
}

void* Passthrough::Mmap(void* addr, size_t length, int prot, int flags, int fd, uint32_t file,
                        off_t offset) {
  int result = 0;
  void* p = backend_->Mmap(addr, length, prot, flags, fd, offset, &result);
  if (cap()) {
    const int saved = errno;
    cap()->Mapped(file, p, static_cast<uint64_t>(offset), length, prot, flags, result);
    errno = saved;
  }
  return p;
}

bool Passthrough::LiveText(const std::string& name, std::string* out) {
  if (!absl::StartsWith(name, "fdinfo/")) return backend_->Text(name, -1, out);
  int fd = -1;
  if (!absl::SimpleAtoi(name.substr(7), &fd) || FileOf(fd) == 0) return false;
  *out = FakeFs::KernelFdinfo(fd);  // the socket's lines, then DRM's
  std::string drm;
  if (!backend_->Text("fdinfo", fd, &drm)) return false;
  out->append(drm);
  return true;
}

void Passthrough::Unmapped(void* addr) {
  if (cap()) cap()->Unmapped(addr);
  backend_->Unmapped(addr);
}

void Passthrough::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!cap()) return;  // (a forked child does not own the parent's trace)
  facts_.CollectInto(capture_.get());
  absl::Status s = capture_->Finish();
  if (!s.ok())
    fprintf(stderr, "faultlab-shim: FAULTLAB_TRACE: %s\n", std::string(s.message()).c_str());
  capture_.reset();
}

// What the kernel is: its driver version, its GPU and whether it has the
// alloc-on-fault series — probed on a descriptor of the shim's own, never
// the program's (spec 2.3: the series did not bump the version, and from
// 1.7 flag bit 1 is WB_MMAP: there it cannot be the series).
void Passthrough::Probe(std::vector<trace::ConfigEntry>* config, std::string* profile_id) {
  const int fd = backend_->OpenForProbe();
  if (fd < 0) return;
  char name[32] = {};
  uapi::DrmVersion v{};
  v.name_len = sizeof(name) - 1;
  v.name = reinterpret_cast<uint64_t>(name);
  if (backend_->Ioctl(fd, uapi::kDrmIoctlVersion, &v) == 0) {
    config->push_back(Entry("driver_version", absl::StrCat(v.version_major, ".", v.version_minor,
                                                           ".", v.version_patchlevel)));
  }
  uapi::PanthorGpuInfo info{};
  uapi::PanthorDevQuery q{uapi::kPanthorDevQueryGpuInfo, sizeof(info),
                          reinterpret_cast<uint64_t>(&info)};
  if (backend_->Ioctl(fd, uapi::kPanthorIoctlDevQuery, &q) == 0) {
    config->push_back(Entry("gpu_id", absl::StrCat("0x", absl::Hex(info.gpu_id))));
    *profile_id = ProfileForGpu(info.gpu_id);
  }
  if (v.version_major == 1 && v.version_minor >= 7) {
    series_ = "absent";
    variant_ = "mainline";  // a model of its own kernel replays it
  } else {
    uapi::PanthorBoCreate bc{};
    bc.size = 4096;
    bc.flags = uapi::kPanthorBoAllocOnFault;
    bc.alloc_on_fault_granularity = 4096;
    const int r = backend_->Ioctl(fd, uapi::kPanthorIoctlBoCreate, &bc);
    series_ = r == 0 ? "present" : r == -EINVAL ? "absent" : "unknown";
    if (r == 0) {
      uapi::DrmGemClose c{bc.handle, 0};
      backend_->Ioctl(fd, uapi::kDrmIoctlGemClose, &c);
    }
  }
  config->push_back(Entry("series", series_));
  close(fd);
}

// At the first open: the trace's header says what was captured where.
void Passthrough::StartCapture() {
  if (started_) return;
  started_ = true;
  // Probed whether or not a trace is wanted: the series check guards every BO_CREATE.
  std::vector<trace::ConfigEntry> config;
  std::string profile_id;
  if (backend_->kind() != Backend::Kind::kStandIn) Probe(&config, &profile_id);
  ProgramAof(&config);
  const char* path = std::getenv("FAULTLAB_TRACE");
  if (!path || !*path) return;
  if (profile_id.empty()) {
    const char* p = std::getenv("FAULTLAB_PROFILE");
    profile_id = p && *p ? p : profiles::kDefaultProfile;
    config.push_back(Entry("profile_guessed", "1"));
  }
  struct utsname u {};
  uname(&u);
  config.push_back(Entry("kernel", u.release));
  config.push_back(Entry("backend", backend_->Describe()));
  replay::WhatIf settings;
  if (!replay::SetWhatIf("profile", profile_id, &settings).ok()) settings = {};
  if (!variant_.empty()) (void)replay::SetWhatIf("variant", variant_, &settings);
  absl::StatusOr<dev::DeviceConfig> cfg = replay::RecordingConfig("", settings, false);
  auto sink = trace::FileSink::Open(path);
  if (!sink.ok()) {
    fprintf(stderr, "faultlab-shim: FAULTLAB_TRACE: %s\n",
            std::string(sink.status().message()).c_str());
    return;
  }
  std::string program = "program";
  std::ifstream("/proc/self/comm") >> program;
  const char* board = std::getenv("FAULTLAB_BOARD");
  trace::TraceHeader h = replay::MakeHeader(*cfg, program, board && *board ? board : "board",
                                            host::TraceId(), host::WallClockNs());
  h.set_capture_source(trace::CAPTURE_SOURCE_BOARD);
  for (const auto& e : config) *h.add_config() = e;
  h.set_note("board capture (the shim's passthrough mode)");
  InstallReadGuard();
  capture_ = std::make_unique<Capture>(std::move(*sink), h);
  facts_.Open(backend_->kind() == Backend::Kind::kReal);
  pthread_atfork(nullptr, nullptr, [] { forked_child_ = true; });
}

// An alloc-on-fault BO_CREATE (flag bit 1 with a granularity) on a kernel
// without the series: it goes to the kernel (which refuses the non-zero
// pad), flagged in the trace and once on stderr, never given WB_MMAP's meaning.
void Passthrough::FlagAllocOnFault(void* arg) {
  uapi::PanthorBoCreate bc{};
  if (!SafeRead(&bc, reinterpret_cast<uint64_t>(arg), sizeof(bc))) return;
  if (!(bc.flags & uapi::kPanthorBoAllocOnFault) || bc.alloc_on_fault_granularity == 0) return;
  if (cap()) cap()->Note("flag:alloc_on_fault_without_series");
  if (!warned_.exchange(true)) {
    fprintf(stderr,
            "faultlab-shim: BO_CREATE asks for alloc-on-fault, but this kernel has no "
            "alloc-on-fault series "
            "(flag bit 1 is %s here); the kernel answers it as it does, and the trace flags it\n",
            series_ == "absent" ? "WB_MMAP or unknown" : "not the series'");
  }
}

}  // namespace faultlab::shim
