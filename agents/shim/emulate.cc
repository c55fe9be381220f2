#include "agents/shim/emulate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agents/shim/real.h"
#include "engine/replay/config.h"
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
  host_ = std::make_unique<twin::TwinHost>(*cfg);
  if (const std::string path = Env("FAULTLAB_TRACE"); !path.empty()) {
    auto sink = trace::FileSink::Open(path);
    if (!sink.ok()) {
      fprintf(stderr, "faultlab-shim: FAULTLAB_TRACE: %s\n",
              std::string(sink.status().message()).c_str());
    } else {
      sink_ = std::move(*sink);
      std::string program = "program";
      std::ifstream("/proc/self/comm") >> program;
      const std::string board = Env("FAULTLAB_BOARD");
      writer_ = std::make_unique<trace::TraceWriter>(
          sink_.get(), replay::MakeHeader(*cfg, program, board.empty() ? "shim" : board,
                                          host::TraceId(), host::WallClockNs()));
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

void Emulator::Forget(int fd) {
  twin::TwinHost* h = made();
  if (!h) return;
  std::lock_guard<std::recursive_mutex> lock(h->mu());
  ForgetLocked(fd);
}

void Emulator::ForgetLocked(int fd) {
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
  auto it = fds_.find(from);
  if (it == fds_.end() || to < 0) return;
  if (fds_.count(to)) ForgetLocked(to);
  fds_[to] = it->second;
  ++refs_[it->second.file];
}

int Emulator::Ioctl(int fd, unsigned long request, void* arg) {
  twin::TwinHost& h = host();
  std::unique_lock<std::recursive_mutex> lock(h.mu());
  auto it = fds_.find(fd);
  if (it == fds_.end()) return -EBADF;
  dev::File* const file =
      it->second.file;  // (the entry may go with a close while a wait lets go of the lock)
  const int ret =
      h.Ioctl(lock, file, mem_, static_cast<uint32_t>(request), reinterpret_cast<uint64_t>(arg));
  if (Logging()) Log(absl::StrCat("ioctl fd ", fd, " 0x", absl::Hex(request), " -> ", ret));
  return ret;
}

void* Emulator::Mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  REAL(mmap);
  twin::TwinHost& h = host();
  std::lock_guard<std::recursive_mutex> lock(h.mu());
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
