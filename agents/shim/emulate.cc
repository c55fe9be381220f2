#include "agents/shim/emulate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agents/shim/fake_fs.h"
#include "agents/shim/real.h"
#include "engine/replay/config.h"
#include "engine/replay/rewrite.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"
#include "lib/host/host.h"

namespace faultlab::shim {

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The device settings the environment asks for; what does not parse is
// said, and the default kept.
replay::WhatIf SettingsFromEnv() {
  replay::WhatIf settings;
  const std::pair<const char*, const char*> vars[] = {{"FAULTLAB_PROFILE", "profile"},
                                                      {"FAULTLAB_VARIANT", "variant"},
                                                      {"FAULTLAB_POLICY", "policy"},
                                                      {"FAULTLAB_BUDGET", "budget"}};
  for (const auto& [var, key] : vars) {
    const std::string value = Env(var);
    if (value.empty()) continue;
    if (absl::Status s = replay::SetWhatIf(key, value, &settings); !s.ok()) {
      fprintf(stderr, "faultlab-shim: %s=%s: %s; using the default\n", var, value.c_str(),
              std::string(s.message()).c_str());
    }
  }
  return settings;
}

}  // namespace

twin::TwinHost& Emulator::host() {
  std::call_once(started_, [this] { Start(); });
  return *host_;
}

void Emulator::Start() {
  // The agent's --profile-dir: FAULTLAB_PROFILE=ID may name a calibrated profile.
  if (const std::string dir = Env("FAULTLAB_PROFILE_DIR"); !dir.empty())
    profiles::SetProfileDir(dir);
  absl::StatusOr<dev::DeviceConfig> cfg = replay::RecordingConfig("", SettingsFromEnv(), false);
  // A test's short job timeout (the profile's otherwise; the trace's header
  // keeps it for the replay).
  if (const std::string ms = Env("FAULTLAB_JOB_TIMEOUT_MS"); !ms.empty()) {
    uint64_t v = 0;
    if (absl::SimpleAtoi(ms, &v) && v >= 1 && v <= 3'600'000) {
      cfg->profile.job_timeout_ns = v * 1'000'000;
    } else {
      fprintf(stderr,
              "faultlab-shim: FAULTLAB_JOB_TIMEOUT_MS=%s: not a number of ms in [1, 3600000]; "
              "using the profile's\n",
              ms.c_str());
    }
  }
  std::vector<trace::ConfigEntry> aof_config;
  ProgramAof(*cfg, &aof_config);
  host_ = std::make_unique<twin::TwinHost>(*cfg);
  if (const std::string path = Env("FAULTLAB_TRACE"); !path.empty()) {
    auto sink = trace::FileSink::Open(path);
    if (!sink.ok()) {
      fprintf(stderr, "faultlab-shim: FAULTLAB_TRACE: %s\n",
              std::string(sink.status().message()).c_str());
    } else {
      sink_ = std::move(*sink);
      // The workload: FAULTLAB_WORKLOAD (the agent's schedule names it), else the program.
      std::string workload = Env("FAULTLAB_WORKLOAD");
      if (workload.empty()) std::ifstream("/proc/self/comm") >> workload;
      if (workload.empty()) workload = "program";
      const std::string board = Env("FAULTLAB_BOARD");
      trace::TraceHeader header = replay::MakeHeader(*cfg, workload, board.empty() ? "shim" : board,
                                                     host::TraceId(), host::WallClockNs());
      for (const trace::ConfigEntry& e : aof_config) *header.add_config() = e;
      writer_ = std::make_unique<trace::TraceWriter>(sink_.get(), header);
      recorder_ = std::make_unique<replay::Recorder>(writer_.get());
      host_->device().set_observer(recorder_.get());
    }
  }
  Log("emulating " + cfg->profile.id + " (" + cfg->profile.name + ")");
  // The GPU runs in host time (docs/shim.md "The live device"), unless
  // FAULTLAB_LIVE=0 keeps it in virtual time, inside submits and waits.
  if (Env("FAULTLAB_LIVE") != "0") host_->StartLive();
  made_.store(host_.get(), std::memory_order_release);
}

void Emulator::ProgramAof(const dev::DeviceConfig& cfg, std::vector<trace::ConfigEntry>* config) {
  const std::string text = Env("FAULTLAB_AOF");
  if (text.empty()) return;
  const std::string g = Env("FAULTLAB_AOF_GRANULARITY");
  absl::StatusOr<replay::ProgramAof> aof = replay::ParseProgramAof(text, g, cfg.variant);
  if (!aof.ok()) {
    fprintf(stderr, "faultlab-shim: FAULTLAB_AOF=%s%s%s: %s; the program's BOs stay as it asks\n",
            text.c_str(), g.empty() ? "" : " FAULTLAB_AOF_GRANULARITY=", g.c_str(),
            std::string(aof.status().message()).c_str());
    return;
  }
  aof_ = aof->selector;
  aof_granularity_ = aof->granularity;
  // The trace says its BOs are not all as the program asked (docs/shim.md).
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"program_aof", aof_->text},
                                   {"program_aof_granularity", absl::StrCat(aof_granularity_)}}) {
    trace::ConfigEntry e;
    e.set_key(key);
    e.set_value(value);
    config->push_back(e);
  }
}

int Emulator::BoCreateAof(std::unique_lock<std::recursive_mutex>& lock, dev::File* file,
                          unsigned long request, void* arg) {
  twin::TwinHost& h = *host_;
  const uint64_t at = reinterpret_cast<uint64_t>(arg);
  uapi::PanthorBoCreate asked{};
  if (mem_.CopyFromUser(&asked, at, sizeof(asked)) != 0)
    return h.Ioctl(lock, file, mem_, static_cast<uint32_t>(request), at);
  uapi::PanthorBoCreate bc = asked;
  if (!replay::ConvertToAof(*aof_, aof_granularity_, nullptr, &bc))
    return h.Ioctl(lock, file, mem_, static_cast<uint32_t>(request), at);
  // The device (and the trace) see the converted request; the program gets
  // its own flags back with the kernel's answer.
  mem_.CopyToUser(at, &bc, sizeof(bc));
  const int ret = h.Ioctl(lock, file, mem_, static_cast<uint32_t>(request), at);
  mem_.CopyToUser(at + offsetof(uapi::PanthorBoCreate, flags), &asked.flags, sizeof(asked.flags));
  mem_.CopyToUser(at + offsetof(uapi::PanthorBoCreate, alloc_on_fault_granularity),
                  &asked.alloc_on_fault_granularity, sizeof(asked.alloc_on_fault_granularity));
  return ret;
}

const profiles::Profile& Emulator::profile() { return host().device().profile(); }

int Emulator::Open(int node, int flags) {
  REAL(open);
  twin::TwinHost& h = host();
  std::lock_guard<std::recursive_mutex> lock(h.mu());
  const int fd = real_open("/dev/null", O_RDWR | (flags & O_CLOEXEC));
  if (fd < 0) return fd;
  // Every process is unprivileged to the twin (no CAP_SYS_NICE), as a
  // replay assumes: high-priority groups need the primary node's master.
  const dev::NodeType type = node == 0 ? dev::NodeType::kPrimary : dev::NodeType::kRender;
  dev::File* f = h.Open(type, &mem_);  // the device records the open
  fds_[fd] = Node{f, type};
  refs_[f] = 1;
  Log(absl::StrCat("open ", node == 0 ? "/dev/dri/card0" : "/dev/dri/renderD128", " -> fd ", fd));
  return fd;
}

bool Emulator::Owns(int fd, dev::NodeType* node) {
  twin::TwinHost* h = made();
  if (!h) return false;  // nothing opened yet
  std::lock_guard<std::recursive_mutex> lock(h->mu());
  auto it = fds_.find(fd);
  if (it == fds_.end()) return false;
  if (node) *node = it->second.type;
  return true;
}

bool Emulator::OwnsExport(int fd) {
  twin::TwinHost* h = made();
  // Every close(), lseek() and mmap() of the process asks: most never
  // exported anything, and need not take the lock.
  if (!h || exports_live_.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard<std::recursive_mutex> lock(h->mu());
  return export_fds_.count(fd) != 0;
}

const dev::Device::Exported* Emulator::ExportOf(int fd, ExportFd* out) {
  auto it = export_fds_.find(fd);
  if (it == export_fds_.end()) return nullptr;
  if (out) *out = it->second;
  return host_->device().FindExport(it->second.key);
}

void Emulator::Forget(int fd) {
  twin::TwinHost* h = made();
  if (!h) return;
  std::lock_guard<std::recursive_mutex> lock(h->mu());
  ForgetLocked(fd);
}

void Emulator::ForgetLocked(int fd) {
  if (auto e = export_fds_.find(fd); e != export_fds_.end()) {
    const int key = e->second.key;
    export_fds_.erase(e);
    exports_live_.fetch_sub(1, std::memory_order_release);
    if (--export_refs_[key] == 0) {  // its last descriptor: the device lets go
      export_refs_.erase(key);
      host_->CloseExport(key);
    } else if (fd == key) {  // a dup lives on: a sync_file signals through it
      for (const auto& [other, x] : export_fds_) {
        if (x.key == key) host_->WatchSyncFile(key, other);
      }
    }
    return;
  }
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;
  dev::File* f = it->second.file;
  fds_.erase(it);
  if (--refs_[f] == 0) {
    refs_.erase(f);
    host_->Release(f);  // drm_release(), now or when its last wait returns
  }
}

void Emulator::Alias(int from, int to) {
  twin::TwinHost* h = made();
  if (!h) return;
  std::lock_guard<std::recursive_mutex> lock(h->mu());
  if (to < 0) return;
  if (auto e = export_fds_.find(from); e != export_fds_.end()) {
    const ExportFd x = e->second;
    ForgetLocked(to);
    export_fds_[to] = x;
    exports_live_.fetch_add(1, std::memory_order_release);
    ++export_refs_[x.key];
    return;
  }
  auto it = fds_.find(from);
  if (it == fds_.end()) return;
  if (fds_.count(to)) ForgetLocked(to);
  fds_[to] = it->second;
  ++refs_[it->second.file];
}

int Emulator::Ioctl(int fd, unsigned long request, void* arg) {
  twin::TwinHost& h = host();
  std::unique_lock<std::recursive_mutex> lock(h.mu());
  if (auto e = export_fds_.find(fd); e != export_fds_.end())  // a handed-out descriptor's
    return h.ExportIoctl(e->second.key, request, reinterpret_cast<uint64_t>(arg), mem_);
  auto it = fds_.find(fd);
  if (it == fds_.end()) return -EBADF;
  dev::File* const file =
      it->second.file;  // (the entry may go with a close while a wait lets go of the lock)
  const uapi::IoctlDesc* desc = uapi::FindIoctl(static_cast<uint32_t>(request));
  const uapi::IoctlId id = desc ? desc->id : uapi::IoctlId::kCount;
  int ret;
  if (id == uapi::IoctlId::kSyncobjHandleToFd || id == uapi::IoctlId::kPrimeHandleToFd) {
    int exported = -1;
    ret = h.Ioctl(lock, file, mem_, static_cast<uint32_t>(request), reinterpret_cast<uint64_t>(arg),
                  nullptr, &exported);
    if (exported >= 0) {
      export_fds_[exported] = ExportFd{exported, h.device().FindExport(exported)->kind};
      exports_live_.fetch_add(1, std::memory_order_release);
      export_refs_[exported] = 1;
    }
  } else if (id == uapi::IoctlId::kSyncobjFdToHandle || id == uapi::IoctlId::kPrimeFdToHandle) {
    // The device knows a descriptor by the number it handed it out as: a
    // dup names it by that number for the call.
    const uint64_t at =
        reinterpret_cast<uint64_t>(arg) + (id == uapi::IoctlId::kPrimeFdToHandle
                                               ? offsetof(uapi::DrmPrimeHandle, fd)
                                               : offsetof(uapi::DrmSyncobjHandle, fd));
    int32_t named = -1;
    ExportFd x{};
    const bool dup = mem_.CopyFromUser(&named, at, 4) == 0 && ExportOf(named, &x) && x.key != named;
    if (dup) mem_.CopyToUser(at, &x.key, 4);
    ret =
        h.Ioctl(lock, file, mem_, static_cast<uint32_t>(request), reinterpret_cast<uint64_t>(arg));
    if (dup) mem_.CopyToUser(at, &named, 4);
  } else if (id == uapi::IoctlId::kBoCreate && aof_) {
    ret = BoCreateAof(lock, file, request, arg);
  } else {
    ret =
        h.Ioctl(lock, file, mem_, static_cast<uint32_t>(request), reinterpret_cast<uint64_t>(arg));
  }
  if (Logging()) Log(absl::StrCat("ioctl fd ", fd, " 0x", absl::Hex(request), " -> ", ret));
  return ret;
}

void* Emulator::Mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  REAL(mmap);
  twin::TwinHost& h = host();
  std::lock_guard<std::recursive_mutex> lock(h.mu());
  ExportFd x{};
  if (const dev::Device::Exported* e = ExportOf(fd, &x)) {
    // A dma-buf: its BO's bytes in the content file, as a BO's map.
    const int ret = e->kind == dev::Device::Exported::Kind::kDmaBuf
                        ? h.device().MmapExport(x.key, static_cast<uint64_t>(offset), length,
                                                flags & MAP_SHARED)
                        : -ENODEV;
    if (ret < 0) return errno = -ret, MAP_FAILED;
    void* p =
        real_mmap(addr, length, prot, MAP_SHARED | (flags & MAP_FIXED), h.device().content_fd(),
                  static_cast<off_t>(e->bo->content_at() + static_cast<uint64_t>(offset)));
    if (p != MAP_FAILED)
      h.TrackDmaBuf(e->bo, static_cast<uint64_t>(offset), length, prot, static_cast<char*>(p));
    return p;
  }
  auto it = fds_.find(fd);
  if (it == fds_.end()) return errno = EBADF, MAP_FAILED;
  const bool shared = flags & MAP_SHARED;
  if (const int ret = h.Mmap(it->second.file, static_cast<uint64_t>(offset), length, prot, shared);
      ret < 0) {
    errno = -ret;
    return MAP_FAILED;
  }
  // A BO: its bytes in the device's content file, mapped as they are (one
  // copy for every mapping and the GPU). The LATEST_FLUSH_ID page: a page
  // of the process the host keeps reading the register.
  uint64_t file_offset = 0;
  const int source = h.MapSource(it->second.file, static_cast<uint64_t>(offset), &file_offset);
  void* p = source >= 0 ? real_mmap(addr, length, prot, MAP_SHARED | (flags & MAP_FIXED), source,
                                    static_cast<off_t>(file_offset))
                        : real_mmap(addr, length, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS | (flags & MAP_FIXED), -1, 0);
  if (p == MAP_FAILED) return p;
  h.Track(it->second.file, static_cast<uint64_t>(offset), length, prot, shared,
          static_cast<char*>(p),
          /*programs_pages=*/true);
  if (source < 0 && prot != (PROT_READ | PROT_WRITE)) mprotect(p, length, prot);
  return p;
}

void Emulator::Unmapping(void* addr) {
  twin::TwinHost* h = made();
  if (!h) return;
  std::lock_guard<std::recursive_mutex> lock(h->mu());
  if (const uint64_t id = h->MappingAt(addr)) h->Unmap(id);
}

int64_t Emulator::Seek(int fd, int64_t offset, int whence) {
  twin::TwinHost& h = host();
  std::lock_guard<std::recursive_mutex> lock(h.mu());
  auto it = export_fds_.find(fd);
  return it == export_fds_.end() ? -ESPIPE : h.ExportSeek(it->second.key, offset, whence);
}

bool Emulator::LiveText(const std::string& name, std::string* out) {
  if (!absl::StartsWith(name, "fdinfo/")) {
    twin::TwinHost& h = host();
    std::lock_guard<std::recursive_mutex> lock(h.mu());
    return h.LiveText(name, nullptr, out);
  }
  int fd = -1;
  twin::TwinHost* h = made();
  if (!h || !absl::SimpleAtoi(name.substr(7), &fd)) return false;
  std::lock_guard<std::recursive_mutex> lock(h->mu());
  auto it = fds_.find(fd);
  if (it == fds_.end()) return false;
  // The kernel's lines for the real descriptor, then DRM's.
  *out = FakeFs::KernelFdinfo(fd);
  std::string drm;
  if (!h->LiveText("fdinfo", it->second.file, &drm)) return false;
  out->append(drm);
  return true;
}

void Emulator::Finish() {
  twin::TwinHost* h = made();
  if (!h) return;
  h->StopLive();
  std::lock_guard<std::recursive_mutex> lock(h->mu());
  if (!recorder_) return;
  // The end of the run, as a workload's: queued work runs out, then "end".
  dev::Device& d = h->device();
  d.RunAll();
  d.EmitMarker(trace::MARKER_NOTE, 0, "end");
  d.set_observer(nullptr);
  absl::Status s = recorder_->Finish();
  if (s.ok()) s = sink_->Close();
  if (!s.ok())
    fprintf(stderr, "faultlab-shim: FAULTLAB_TRACE: %s\n", std::string(s.message()).c_str());
  recorder_.reset();
}

}  // namespace faultlab::shim
