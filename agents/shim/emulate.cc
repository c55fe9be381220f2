#include "agents/shim/emulate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agents/shim/real.h"
#include "engine/replay/config.h"
#include "engine/uapi/drm.h"
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
  host_->set_on_progress([this] { SignalSyncFiles(); });
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

bool Emulator::OwnsExport(int fd) {
  twin::TwinHost* h = made();
  if (!h) return false;
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
    if (--export_refs_[key] == 0) {  // its last descriptor: the device lets go
      export_refs_.erase(key);
      unsignalled_sync_files_.erase(key);
      host_->device().CloseExport(key);
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
    ++export_refs_[x.key];
    return;
  }
  auto it = fds_.find(from);
  if (it == fds_.end()) return;
  if (fds_.count(to)) ForgetLocked(to);
  fds_[to] = it->second;
  ++refs_[it->second.file];
}

int Emulator::ExportIoctl(std::unique_lock<std::recursive_mutex>& lock, dev::File* file,
                          uapi::IoctlId id, unsigned long request, void* arg) {
  REAL(open);
  REAL(close);
  // What the kernel makes: a sync_file (EXPORT_SYNC_FILE) is pollable, the
  // others are anon files; all O_CLOEXEC but a dma-buf without DRM_CLOEXEC.
  uint32_t flags = 0;
  const bool readable = mem_.CopyFromUser(&flags, reinterpret_cast<uint64_t>(arg) + 4, 4) == 0;
  const bool sync_file = id == uapi::IoctlId::kSyncobjHandleToFd && readable &&
                         (flags & uapi::kDrmSyncobjHandleToFdExportSyncFile);
  const bool cloexec = id != uapi::IoctlId::kPrimeHandleToFd || (flags & uapi::kDrmCloexec);
  const int fd = sync_file ? eventfd(0, EFD_CLOEXEC)
                           : real_open("/dev/null", O_RDWR | (cloexec ? O_CLOEXEC : 0));
  if (fd < 0) return -errno;
  dev::Device& d = host_->device();
  d.ReserveExportFd(fd);
  const int ret = host_->Ioctl(lock, file, mem_, static_cast<uint32_t>(request),
                               reinterpret_cast<uint64_t>(arg));
  d.ReserveExportFd(-1);
  const dev::Device::Exported* e = ret == 0 ? d.FindExport(fd) : nullptr;
  if (e == nullptr) {
    real_close(fd);
    return ret;
  }
  export_fds_[fd] = ExportFd{fd, e->kind};
  export_refs_[fd] = 1;
  if (sync_file) unsignalled_sync_files_.insert(fd);
  SignalSyncFiles();
  return ret;
}

void Emulator::SignalSyncFiles() {
  for (auto it = unsignalled_sync_files_.begin(); it != unsignalled_sync_files_.end();) {
    const dev::Device::Exported* e = host_->device().FindExport(*it);
    if (e && dev::Device::SyncFileStatus(*e) == 0) {
      ++it;
      continue;
    }
    // The key's descriptor may be closed while a dup lives: any will do.
    for (const auto& [fd, x] : export_fds_) {
      if (x.key != *it) continue;
      const uint64_t one = 1;
      (void)!write(fd, &one, sizeof(one));
      break;
    }
    it = unsignalled_sync_files_.erase(it);
  }
}

namespace {

// sync_file's SYNC_IOC_FILE_INFO (linux/sync_file.h).
struct SyncFenceInfo {
  char obj_name[32];
  char driver_name[32];
  int32_t status;
  uint32_t flags;
  uint64_t timestamp_ns;
};
struct SyncFileInfo {
  char name[32];
  int32_t status;
  uint32_t flags;
  uint32_t num_fences;
  uint32_t pad;
  uint64_t sync_fence_info;
};
constexpr unsigned long kSyncIocFileInfo = 0xc0383e04;  // _IOWR('>', 4, struct sync_file_info)
constexpr unsigned long kDmaBufIoctlSync = 0x40086200;  // _IOW('b', 0, struct dma_buf_sync)
constexpr uint64_t kDmaBufSyncRw = 3, kDmaBufSyncValid = 7;

}  // namespace

int Emulator::DescriptorIoctl(int fd, unsigned long request, void* arg) {
  twin::TwinHost& h = host();
  std::lock_guard<std::recursive_mutex> lock(h.mu());
  ExportFd x{};
  const dev::Device::Exported* e = ExportOf(fd, &x);
  if (e == nullptr) return -EBADF;
  const uint64_t user = reinterpret_cast<uint64_t>(arg);
  if (x.kind == dev::Device::Exported::Kind::kSyncFile && request == kSyncIocFileInfo) {
    // sync_file_ioctl_fence_info(): one fence here.
    SyncFileInfo info;
    if (mem_.CopyFromUser(&info, user, sizeof(info)) != 0) return -EFAULT;
    if (info.flags || info.pad) return -EINVAL;
    const int status = dev::Device::SyncFileStatus(*e);
    if (info.num_fences) {
      SyncFenceInfo fi{};
      snprintf(fi.obj_name, sizeof(fi.obj_name), "panthor-queue");
      snprintf(fi.driver_name, sizeof(fi.driver_name), "drm_sched");
      fi.status = status;
      if (mem_.CopyToUser(info.sync_fence_info, &fi, sizeof(fi)) != 0) return -EFAULT;
    }
    memset(info.name, 0, sizeof(info.name));
    snprintf(info.name, sizeof(info.name), "panthor");
    info.status = status;
    info.num_fences = 1;
    return mem_.CopyToUser(user, &info, sizeof(info)) != 0 ? -EFAULT : 0;
  }
  if (x.kind == dev::Device::Exported::Kind::kDmaBuf && request == kDmaBufIoctlSync) {
    // dma_buf_ioctl(): a begin or end of CPU access, read and/or write. One
    // copy of the bytes: nothing to flush.
    uint64_t flags;
    if (mem_.CopyFromUser(&flags, user, sizeof(flags)) != 0) return -EFAULT;
    if ((flags & ~kDmaBufSyncValid) || !(flags & kDmaBufSyncRw)) return -EINVAL;
    return 0;
  }
  return -ENOTTY;
}

int64_t Emulator::Seek(int fd, int64_t offset, int whence) {
  twin::TwinHost& h = host();
  std::lock_guard<std::recursive_mutex> lock(h.mu());
  const dev::Device::Exported* e = ExportOf(fd);
  if (e == nullptr || e->kind != dev::Device::Exported::Kind::kDmaBuf) return -ESPIPE;
  if (offset != 0) return -EINVAL;
  if (whence == SEEK_END) return static_cast<int64_t>(e->bo->size_bytes());
  return whence == SEEK_SET ? 0 : -EINVAL;
}

int Emulator::Ioctl(int fd, unsigned long request, void* arg) {
  if (OwnsExport(fd)) return DescriptorIoctl(fd, request, arg);
  twin::TwinHost& h = host();
  std::unique_lock<std::recursive_mutex> lock(h.mu());
  auto it = fds_.find(fd);
  if (it == fds_.end()) return -EBADF;
  dev::File* const file =
      it->second.file;  // (the entry may go with a close while a wait lets go of the lock)
  const uapi::IoctlDesc* desc = uapi::FindIoctl(static_cast<uint32_t>(request));
  const uapi::IoctlId id = desc ? desc->id : uapi::IoctlId::kCount;
  int ret;
  if (id == uapi::IoctlId::kSyncobjHandleToFd || id == uapi::IoctlId::kPrimeHandleToFd) {
    ret = ExportIoctl(lock, file, id, request, arg);
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

namespace {

// drm_fdinfo_print_size(): bytes, or KiB / MiB when a whole number of them.
std::string FdinfoSize(uint64_t bytes) {
  const char* units[] = {"", " KiB", " MiB"};
  int u = 0;
  for (; u < 2 && bytes != 0 && bytes % 1024 == 0; ++u) bytes /= 1024;
  return absl::StrCat(bytes, units[u]);
}

// devfreq's trans_stat_show().
std::string TransStat(const pm::Power::Snapshot& s) {
  const size_t n = s.opp_hz.size();
  std::string out = "     From  :   To\n           :";
  for (uint64_t hz : s.opp_hz) absl::StrAppend(&out, absl::StrFormat("%10u", hz));
  absl::StrAppend(&out, "   time(ms)\n");
  for (size_t i = 0; i < n; ++i) {
    absl::StrAppend(&out, s.opp_hz[i] == s.cur_hz ? "*" : " ",
                    absl::StrFormat("%10u:", s.opp_hz[i]));
    for (size_t j = 0; j < n; ++j)
      absl::StrAppend(&out, absl::StrFormat("%10u", s.trans[i * n + j]));
    absl::StrAppend(&out, absl::StrFormat("%10u\n", s.time_in_state_ms[i]));
  }
  absl::StrAppend(&out, "Total transition : ", s.total_trans, "\n");
  return out;
}

}  // namespace

bool Emulator::LiveText(const std::string& name, std::string* out) {
  int fd = -1;
  if (absl::StartsWith(name, "fdinfo/")) {
    twin::TwinHost* h = made();
    if (!h || !absl::SimpleAtoi(name.substr(7), &fd)) return false;
    std::lock_guard<std::recursive_mutex> lock(h->mu());
    auto it = fds_.find(fd);
    if (it == fds_.end()) return false;
    // The kernel's lines for the real descriptor (pos, flags, mnt_id, ino).
    REAL(open);
    REAL(close);
    out->clear();
    const int real =
        real_open(absl::StrCat("/proc/self/fdinfo/", fd).c_str(), O_RDONLY | O_CLOEXEC);
    char buf[512];
    for (ssize_t n; real >= 0 && (n = read(real, buf, sizeof(buf))) > 0;) out->append(buf, n);
    if (real >= 0) real_close(real);
    const dev::Device::FileUsage u = h->device().UsageOf(it->second.file);
    const pm::Power::Snapshot s = h->device().PowerAt(h->now_ns());
    const uint64_t max_hz = s.opp_hz.back();
    const uint64_t cycles =
        static_cast<uint64_t>(static_cast<unsigned __int128>(u.engine_ns) * max_hz / 1'000'000'000);
    absl::StrAppend(out, "drm-driver:\tpanthor\ndrm-client-id:\t", u.client_id,
                    "\ndrm-engine-panthor:\t", u.engine_ns, " ns\ndrm-cycles-panthor:\t", cycles,
                    "\ndrm-maxfreq-panthor:\t", max_hz, " Hz\ndrm-curfreq-panthor:\t", s.cur_hz,
                    " Hz\ndrm-total-memory:\t", FdinfoSize(u.total_bytes), "\ndrm-shared-memory:\t",
                    FdinfoSize(u.shared_bytes), "\ndrm-resident-memory:\t",
                    FdinfoSize(u.resident_bytes), "\ndrm-purgeable-memory:\t0\n");
    return true;
  }
  twin::TwinHost& h = host();
  std::lock_guard<std::recursive_mutex> lock(h.mu());
  const pm::Power::Snapshot s = h.device().PowerAt(h.now_ns());
  const std::map<std::string, std::string> files = {
      {"devfreq/available_frequencies", absl::StrCat(absl::StrJoin(s.opp_hz, " "), "\n")},
      {"devfreq/available_governors", "userspace powersave performance simple_ondemand\n"},
      {"devfreq/cur_freq", absl::StrCat(s.cur_hz, "\n")},
      {"devfreq/target_freq", absl::StrCat(s.cur_hz, "\n")},
      {"devfreq/governor", "simple_ondemand\n"},
      {"devfreq/min_freq", absl::StrCat(s.opp_hz.front(), "\n")},
      {"devfreq/max_freq", absl::StrCat(s.opp_hz.back(), "\n")},
      {"devfreq/polling_interval", absl::StrCat(pm::Power::kPollNs / 1'000'000, "\n")},
      {"devfreq/trans_stat", TransStat(s)},
      {"power/runtime_status", s.suspended ? "suspended\n" : "active\n"},
      {"power/autosuspend_delay_ms", absl::StrCat(pm::Power::kAutosuspendNs / 1'000'000, "\n")},
      {"power/control", "auto\n"},
      {"power/runtime_active_time", absl::StrCat(s.active_ms, "\n")},
      {"power/runtime_suspended_time", absl::StrCat(s.suspended_ms, "\n")},
  };
  auto it = files.find(name);
  if (it == files.end()) return false;
  *out = it->second;
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
