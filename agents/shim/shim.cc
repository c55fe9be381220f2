// libfaultlab_shim.so: an LD_PRELOAD device (DESIGN "Contracts"; docs/shim.md).
// In `emulate` mode (FAULTLAB_SHIM unset or "emulate") the process sees a
// panthor device — /dev/dri/card0 and /dev/dri/renderD128, their sysfs
// entries as libdrm reads them (spec 7.4) — backed by one twin per process
// (engine/dev). Every other path and fd passes through untouched. Silent
// unless FAULTLAB_LOG is set. FAULTLAB_TRACE=PATH records the process's use
// of the device; `faultlab replay PATH` replays it.
//
// An fd of ours is a real descriptor of /dev/null (so its number is unique
// and the kernel's close/dup/fcntl bookkeeping works), mapped to a twin File.
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/host.h"
#include "engine/dev/device.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"
#include "engine/replay/recorder.h"
#include "engine/trace/writer.h"

namespace {

using faultlab::dev::Device;
using faultlab::dev::File;
using faultlab::dev::NodeType;

template <typename F>
F Next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}
#define REAL(name) static auto real_##name = Next<decltype(&::name)>(#name)

bool Logging() {
  static const bool on = std::getenv("FAULTLAB_LOG") != nullptr;
  return on;
}
void Log(const std::string& s) {
  if (Logging()) fprintf(stderr, "faultlab-shim: %s\n", s.c_str());
}

// The process's memory as the twin's user memory: copies that touch an
// unmapped address fail with -EFAULT, as copy_{from,to}_user do.
class ProcessMemory : public faultlab::UserMemory {
 public:
  int CopyFromUser(void* dst, uint64_t src, size_t n) override {
    if (n == 0) return 0;
    iovec local{dst, n}, remote{reinterpret_cast<void*>(src), n};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n) ? 0 : -EFAULT;
  }
  int CopyToUser(uint64_t dst, const void* src, size_t n) override {
    if (n == 0) return 0;
    iovec local{const_cast<void*>(src), n}, remote{reinterpret_cast<void*>(dst), n};
    return process_vm_writev(getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n) ? 0 : -EFAULT;
  }
};

struct Node {
  File* file;
  NodeType type;
};

// A CPU mapping of a BO: the process's pages hold a copy of the BO's bytes,
// made coherent at the points where the GPU may read or write them (before
// and after GROUP_SUBMIT and the syncobj waits).
struct Mapping {
  File* file;
  uint64_t offset;  // the fake mmap offset mapped
  uint64_t bo_off;  // where in the BO the mapping starts
  size_t length;
  int prot;
  bool shared;
};

class Shim {
 public:
  static Shim& Get() {
    static Shim* s = new Shim();  // lives to the end: fds may be used in atexit handlers
    return *s;
  }
  bool emulate() const { return emulate_; }
  std::recursive_mutex& mu() { return mu_; }

  Device* device() {
    if (!device_) Start();
    return device_.get();
  }
  const faultlab::dev::Profile& profile() { return device()->profile(); }
  std::map<int, Node>& fds() { return fds_; }
  std::map<File*, int>& refs() { return refs_; }
  std::map<uintptr_t, Mapping>& maps() { return maps_; }
  std::set<uint64_t>& bases() { return bases_; }

  // CPU writes through shared mappings reach their BOs (before the GPU runs).
  void FlushToBos() {
    for (auto& [addr, m] : maps_) {
      if (!m.shared || !(m.prot & PROT_WRITE)) continue;
      auto bo = device_->BoAtOffset(m.file, m.offset, m.length);
      if (!bo || m.bo_off >= bo->size_bytes()) continue;
      // Page by page, what the CPU changed goes in (and into the trace).
      const uint64_t len = std::min<uint64_t>(m.length, bo->size_bytes() - m.bo_off);
      std::string before(4096, '\0');
      for (uint64_t at = 0; at < len; at += 4096) {
        const uint64_t n = std::min<uint64_t>(4096, len - at);
        bo->Read(m.bo_off + at, before.data(), n);
        const char* now = reinterpret_cast<const char*>(addr + at);
        if (memcmp(before.data(), now, n) != 0) device_->NoteCpuWrite(bo, m.bo_off + at, std::string(now, n));
      }
    }
  }
  // The GPU's writes become visible through every mapping (after it ran).
  void FillFromBos() {
    for (auto& [addr, m] : maps_) {
      auto bo = device_->BoAtOffset(m.file, m.offset, m.length);
      if (!bo || m.bo_off >= bo->size_bytes()) continue;
      void* p = reinterpret_cast<void*>(addr);
      if (!(m.prot & PROT_WRITE)) mprotect(p, m.length, PROT_READ | PROT_WRITE);
      bo->Read(m.bo_off, p, std::min<uint64_t>(m.length, bo->size_bytes() - m.bo_off));
      if (!(m.prot & PROT_WRITE)) mprotect(p, m.length, m.prot);
    }
  }
  ProcessMemory* memory() { return &mem_; }

  void Finish() {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (!recorder_) return;
    // The end of the run, as a workload's: queued work runs out, then "end".
    device_->RunAll();
    device_->EmitMarker(faultlab::trace::MARKER_NOTE, 0, "end");
    device_->set_observer(nullptr);
    absl::Status s = recorder_->Finish();
    if (s.ok()) s = sink_->Close();
    if (!s.ok()) fprintf(stderr, "faultlab-shim: FAULTLAB_TRACE: %s\n", std::string(s.message()).c_str());
    recorder_.reset();
  }

 private:
  Shim() {
    const char* mode = std::getenv("FAULTLAB_SHIM");
    emulate_ = mode == nullptr || std::string(mode).empty() || std::string(mode) == "emulate";
    if (mode && !emulate_) {
      Log(std::string("FAULTLAB_SHIM=") + mode + ": passthrough capture is not in this build; the real device is used");
    }
  }

  void Start() {
    faultlab::trace::TraceHeader base;
    auto env = [](const char* k, const char* d) {
      const char* v = std::getenv(k);
      return std::string(v && *v ? v : d);
    };
    std::vector<faultlab::replay::WhatIf> settings = {{"profile", env("FAULTLAB_PROFILE", "g610")},
                                                      {"variant", env("FAULTLAB_VARIANT", "series-fixed")},
                                                      {"policy", env("FAULTLAB_POLICY", "noretry")}};
    if (std::getenv("FAULTLAB_BUDGET")) settings.push_back({"budget", env("FAULTLAB_BUDGET", "")});
    absl::StatusOr<faultlab::dev::DeviceConfig> cfg = faultlab::replay::ConfigFromHeader(base, settings);
    if (!cfg.ok()) {
      fprintf(stderr, "faultlab-shim: %s; using the defaults\n", std::string(cfg.status().message()).c_str());
      cfg = faultlab::replay::ConfigFromHeader(base, {{"profile", "g610"}, {"variant", "series-fixed"},
                                                      {"policy", "noretry"}});
    }
    device_ = std::make_unique<Device>(*cfg);
    if (const char* path = std::getenv("FAULTLAB_TRACE"); path && *path) {
      auto sink = faultlab::trace::FileSink::Open(path);
      if (!sink.ok()) {
        fprintf(stderr, "faultlab-shim: FAULTLAB_TRACE: %s\n", std::string(sink.status().message()).c_str());
      } else {
        sink_ = std::move(*sink);
        const std::string id = faultlab::cli::HostTraceId();
        std::string program = "program";
        std::ifstream("/proc/self/comm") >> program;
        const int64_t wall = faultlab::cli::HostWallClockNs();
        writer_ = std::make_unique<faultlab::trace::TraceWriter>(
            sink_.get(), faultlab::replay::MakeHeader(*cfg, program, env("FAULTLAB_BOARD", "shim"), id, wall));
        recorder_ = std::make_unique<faultlab::replay::Recorder>(writer_.get());
        device_->set_observer(recorder_.get());
      }
    }
    Log("emulating " + device_->profile().id + " (" + device_->profile().name + ")");
  }

  bool emulate_ = true;
  std::recursive_mutex mu_;
  std::unique_ptr<Device> device_;
  ProcessMemory mem_;
  std::map<int, Node> fds_;
  std::map<File*, int> refs_;
  std::map<uintptr_t, Mapping> maps_;
  std::set<uint64_t> bases_;  // fake offsets BO_MMAP_OFFSET handed out
  std::unique_ptr<faultlab::trace::FileSink> sink_;
  std::unique_ptr<faultlab::trace::TraceWriter> writer_;
  std::unique_ptr<faultlab::replay::Recorder> recorder_;
};

__attribute__((destructor)) void FinishTrace() { Shim::Get().Finish(); }

// --- the fake file system ---------------------------------------------------

constexpr char kCard[] = "/dev/dri/card0";
constexpr char kRender[] = "/dev/dri/renderD128";

int NodeOfPath(const char* path) {  // 0 card, 1 render, -1 none
  if (!path || !Shim::Get().emulate()) return -1;
  if (strcmp(path, kCard) == 0) return 0;
  if (strcmp(path, kRender) == 0) return 1;
  return -1;
}

// The sysfs directory of minor 0 or 128: /sys/dev/char/226:M/device.
bool SysfsDevice(const std::string& path, std::string* rest) {
  if (!Shim::Get().emulate()) return false;
  for (const char* base : {"/sys/dev/char/226:0/device", "/sys/dev/char/226:128/device"}) {
    if (absl::StartsWith(path, base)) {
      *rest = path.substr(strlen(base));
      return rest->empty() || (*rest)[0] == '/';
    }
  }
  return false;
}

std::string Uevent() {
  const faultlab::dev::Profile& p = Shim::Get().profile();
  std::string addr = p.unique.substr(0, p.unique.find('.'));
  return absl::StrCat("DRIVER=panthor\nOF_NAME=gpu\nOF_FULLNAME=/gpu@", addr, "\nOF_COMPATIBLE_0=", p.compatible,
                      "\nOF_COMPATIBLE_1=arm,mali-valhall-csf\nOF_COMPATIBLE_N=2\nMODALIAS=of:NgpuT(null)C",
                      p.compatible, "Carm,mali-valhall-csf\n");
}

enum class Kind { kNone, kCharDev, kDir, kFile, kLink };

// What a path of ours is; `*node` for char devices.
Kind Lookup(const std::string& path, int* node = nullptr) {
  if (!Shim::Get().emulate()) return Kind::kNone;
  const int n = NodeOfPath(path.c_str());
  if (n >= 0) {
    if (node) *node = n;
    return Kind::kCharDev;
  }
  if (path == "/dev/dri" || path == "/dev/dri/") return Kind::kDir;
  std::string rest;
  if (SysfsDevice(path, &rest)) {
    if (rest.empty() || rest == "/" || rest == "/drm" || rest == "/drm/card0" || rest == "/drm/renderD128") {
      return Kind::kDir;
    }
    if (rest == "/uevent") return Kind::kFile;
    if (rest == "/subsystem" || rest == "/driver") return Kind::kLink;
  }
  if (path == "/sys/dev/char/226:0" || path == "/sys/dev/char/226:128") return Kind::kLink;
  return Kind::kNone;
}

void FakeStat(Kind k, int node, struct stat* st) {
  memset(st, 0, sizeof(*st));
  st->st_nlink = 1;
  st->st_blksize = 4096;
  switch (k) {
    case Kind::kCharDev:
      st->st_mode = S_IFCHR | 0666;
      st->st_rdev = makedev(226, node == 0 ? 0 : 128);
      st->st_ino = 1000 + node;
      break;
    case Kind::kDir:
      st->st_mode = S_IFDIR | 0755;
      st->st_nlink = 2;
      break;
    case Kind::kLink:
      st->st_mode = S_IFLNK | 0777;
      break;
    default:
      st->st_mode = S_IFREG | 0444;
      st->st_size = 4096;
  }
}

// --- fake directories -------------------------------------------------------

struct FakeDir {
  std::vector<std::string> names;
  size_t next = 0;
  struct dirent ent;
  struct dirent64 ent64;
};
std::set<void*>& FakeDirs() {
  static auto* s = new std::set<void*>();
  return *s;
}

std::vector<std::string> ListDir(const std::string& path) {
  std::string rest;
  if (path == "/dev/dri" || path == "/dev/dri/") return {".", "..", "card0", "renderD128"};
  if (SysfsDevice(path, &rest) && rest == "/drm") return {".", "..", "card0", "renderD128"};
  return {".", ".."};
}

int OpenNode(int node, int flags) {
  REAL(open);
  Shim& s = Shim::Get();
  std::lock_guard<std::recursive_mutex> lock(s.mu());
  const int fd = real_open("/dev/null", O_RDWR | (flags & O_CLOEXEC));
  if (fd < 0) return fd;
  // Every process is unprivileged to the twin (no CAP_SYS_NICE), as a
  // replay assumes: high-priority groups need the primary node's master.
  const NodeType type = node == 0 ? NodeType::kPrimary : NodeType::kRender;
  File* f = s.device()->Open(type, s.memory());
  s.device()->EmitMarker(faultlab::trace::MARKER_NOTE, f->id(),
                         absl::StrCat("open:", f->id(), ":", node == 0 ? "primary" : "render"));
  s.fds()[fd] = Node{f, node == 0 ? NodeType::kPrimary : NodeType::kRender};
  s.refs()[f] = 1;
  Log(absl::StrCat("open ", node == 0 ? kCard : kRender, " -> fd ", fd));
  return fd;
}

Node* Ours(int fd) {
  Shim& s = Shim::Get();
  if (!s.emulate()) return nullptr;
  std::lock_guard<std::recursive_mutex> lock(s.mu());
  auto it = s.fds().find(fd);
  return it == s.fds().end() ? nullptr : &it->second;
}

void Forget(int fd) {
  Shim& s = Shim::Get();
  std::lock_guard<std::recursive_mutex> lock(s.mu());
  auto it = s.fds().find(fd);
  if (it == s.fds().end()) return;
  File* f = it->second.file;
  s.fds().erase(it);
  if (--s.refs()[f] == 0) {
    s.refs().erase(f);
    s.device()->EmitMarker(faultlab::trace::MARKER_NOTE, f->id(), absl::StrCat("close:", f->id()));
    s.device()->Close(f);
  }
}

void Alias(int from, int to) {
  Shim& s = Shim::Get();
  std::lock_guard<std::recursive_mutex> lock(s.mu());
  auto it = s.fds().find(from);
  if (it == s.fds().end() || to < 0) return;
  if (s.fds().count(to)) Forget(to);
  s.fds()[to] = it->second;
  ++s.refs()[it->second.file];
}

int Errno(int e) {
  errno = e;
  return -1;
}

int FillStat(const char* path, struct stat* st, bool follow) {
  int node = 0;
  const Kind k = Lookup(path ? path : "", &node);
  if (k == Kind::kNone) return 1;  // not ours
  FakeStat(k == Kind::kLink && follow ? Kind::kDir : k, node, st);
  return 0;
}

}  // namespace

namespace {

// Host time, for wait timeouts (the uAPI's are absolute CLOCK_MONOTONIC ns).
int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// Wakes waits blocked in host time: something was submitted or signalled.
std::condition_variable_any& Progress() {
  static auto* cv = new std::condition_variable_any();
  return *cv;
}

// SYNCOBJ_WAIT and SYNCOBJ_TIMELINE_WAIT: the twin runs (in virtual time)
// until the fences signal or no work is left; if then a WAIT_FOR_SUBMIT wait
// is still missing a fence, the shim lets go of the twin and blocks in host
// time until another thread submits or signals, or the caller's
// CLOCK_MONOTONIC deadline passes (-ETIME). Each attempt is one ioctl of the
// trace, so a replay repeats them in order.
template <typename Wait>
int SyncobjWait(Shim& s, std::unique_lock<std::recursive_mutex>& lock, File* file, uint32_t req, Wait* user) {
  Wait w;
  if (s.memory()->CopyFromUser(&w, reinterpret_cast<uint64_t>(user), sizeof(w)) != 0) {
    return s.device()->Ioctl(file, req, reinterpret_cast<uint64_t>(user));  // the twin says -EFAULT
  }
  const int64_t deadline = w.timeout_nsec;
  constexpr uint32_t kWaitForSubmit = 1u << 1;
  for (;;) {
    Wait attempt = w;
    attempt.timeout_nsec = INT64_MAX;  // virtual time: run until signalled or idle
    int ret = s.device()->Ioctl(file, req, reinterpret_cast<uint64_t>(&attempt));
    w.first_signaled = attempt.first_signaled;
    if (ret != -ETIME || !(w.flags & kWaitForSubmit) || MonotonicNs() >= deadline) {
      if (ret == 0 || ret == -ETIME) {
        if (s.memory()->CopyToUser(reinterpret_cast<uint64_t>(user), &w, sizeof(w)) != 0) return -EFAULT;
      }
      return ret;
    }
    // Nothing can run and a fence is missing: wait for another thread.
    const int64_t left = deadline - MonotonicNs();
    Progress().wait_for(lock, std::chrono::nanoseconds(std::min<int64_t>(left, 1000000000)));
  }
}

}  // namespace

// --- the libc entry points --------------------------------------------------

extern "C" {

#define OPEN_BODY(REALNAME, ...)                                  \
  mode_t mode = 0;                                                \
  if (flags & (O_CREAT | O_TMPFILE)) {                            \
    va_list ap;                                                   \
    va_start(ap, flags);                                          \
    mode = va_arg(ap, mode_t);                                    \
    va_end(ap);                                                   \
  }                                                               \
  const int node = NodeOfPath(path);                              \
  if (node >= 0) return OpenNode(node, flags);                    \
  if (path && absl::StartsWith(path, "/dev/dri/") && Shim::Get().emulate()) return Errno(ENOENT); \
  REAL(REALNAME);                                                 \
  return real_##REALNAME(__VA_ARGS__, mode);

int open(const char* path, int flags, ...) { OPEN_BODY(open, path, flags) }
int open64(const char* path, int flags, ...) { OPEN_BODY(open64, path, flags) }
int openat(int dirfd, const char* path, int flags, ...) { OPEN_BODY(openat, dirfd, path, flags) }
int openat64(int dirfd, const char* path, int flags, ...) { OPEN_BODY(openat64, dirfd, path, flags) }

int __open_2(const char* path, int flags) { return open(path, flags); }
int __open64_2(const char* path, int flags) { return open64(path, flags); }
int __openat_2(int dirfd, const char* path, int flags) { return openat(dirfd, path, flags); }
int __openat64_2(int dirfd, const char* path, int flags) { return openat64(dirfd, path, flags); }

static FILE* FakeFopen(const char* path) {
  std::string rest;
  if (!path || !SysfsDevice(path, &rest) || rest != "/uevent") return nullptr;
  const std::string content = Uevent();
  char* buf = strdup(content.c_str());  // lives as long as the stream may (a few bytes)
  return fmemopen(buf, content.size(), "r");
}

FILE* fopen(const char* path, const char* mode) {
  if (FILE* f = FakeFopen(path)) return f;
  REAL(fopen);
  return real_fopen(path, mode);
}
FILE* fopen64(const char* path, const char* mode) {
  if (FILE* f = FakeFopen(path)) return f;
  REAL(fopen64);
  return real_fopen64(path, mode);
}

int close(int fd) {
  if (Ours(fd)) Forget(fd);
  REAL(close);
  return real_close(fd);
}

int dup(int fd) {
  REAL(dup);
  const int r = real_dup(fd);
  if (r >= 0 && Ours(fd)) Alias(fd, r);
  return r;
}
int dup2(int fd, int to) {
  REAL(dup2);
  if (fd != to && Ours(to)) Forget(to);
  const int r = real_dup2(fd, to);
  if (r >= 0 && fd != to && Ours(fd)) Alias(fd, r);
  return r;
}
int dup3(int fd, int to, int flags) {
  REAL(dup3);
  if (fd != to && Ours(to)) Forget(to);
  const int r = real_dup3(fd, to, flags);
  if (r >= 0 && Ours(fd)) Alias(fd, r);
  return r;
}
int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const long arg = va_arg(ap, long);
  va_end(ap);
  REAL(fcntl);
  const int r = real_fcntl(fd, cmd, arg);
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && Ours(fd)) Alias(fd, r);
  return r;
}
int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const long arg = va_arg(ap, long);
  va_end(ap);
  return fcntl(fd, cmd, arg);
}

int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (Node* n = Ours(fd)) {
    Shim& s = Shim::Get();
    std::unique_lock<std::recursive_mutex> lock(s.mu());
    const uint32_t req = static_cast<uint32_t>(request);
    // The GPU runs inside these: the CPU's writes go in before, its own come out after.
    const bool gpu = req == faultlab::uapi::kPanthorIoctlGroupSubmit || req == faultlab::uapi::kDrmIoctlSyncobjWait ||
                     req == faultlab::uapi::kDrmIoctlSyncobjTimelineWait;
    if (gpu) s.FlushToBos();
    int ret;
    if (req == faultlab::uapi::kDrmIoctlSyncobjWait) {
      ret = SyncobjWait(s, lock, n->file, req, static_cast<faultlab::uapi::DrmSyncobjWait*>(arg));
    } else if (req == faultlab::uapi::kDrmIoctlSyncobjTimelineWait) {
      ret = SyncobjWait(s, lock, n->file, req, static_cast<faultlab::uapi::DrmSyncobjTimelineWait*>(arg));
    } else {
      ret = s.device()->Ioctl(n->file, req, reinterpret_cast<uint64_t>(arg));
      Progress().notify_all();  // a submit, a signal: blocked waits look again
    }
    if (gpu) s.FillFromBos();
    if (ret == 0 && req == faultlab::uapi::kPanthorIoctlBoMmapOffset) {
      s.bases().insert(static_cast<faultlab::uapi::PanthorBoMmapOffset*>(arg)->offset);
    }
    if (Logging()) Log(absl::StrCat("ioctl fd ", fd, " 0x", absl::Hex(request), " -> ", ret));
    return ret < 0 ? Errno(-ret) : ret;
  }
  REAL(ioctl);
  return real_ioctl(fd, request, arg);
}

void* mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  if (Node* n = Ours(fd)) {
    Shim& s = Shim::Get();
    std::lock_guard<std::recursive_mutex> lock(s.mu());
    uint64_t populated = 0;
    const int ret = s.device()->MmapBo(n->file, static_cast<uint64_t>(offset), length, flags & MAP_SHARED, &populated);
    if (ret < 0) {
      errno = -ret;
      return MAP_FAILED;
    }
    // The BO's pages are populated (drm_gem_shmem's mmap); the process's
    // pages hold a copy of the BO, coherent at submits and waits (Mapping).
    REAL(mmap);
    void* p = real_mmap(addr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | (flags & MAP_FIXED), -1, 0);
    if (p == MAP_FAILED) return p;
    auto base = s.bases().upper_bound(static_cast<uint64_t>(offset));
    const uint64_t bo_off = base == s.bases().begin() ? 0 : static_cast<uint64_t>(offset) - *std::prev(base);
    s.maps()[reinterpret_cast<uintptr_t>(p)] = Mapping{n->file, static_cast<uint64_t>(offset), bo_off, length, prot,
                                                      (flags & MAP_SHARED) != 0};
    if (auto bo = s.device()->BoAtOffset(n->file, static_cast<uint64_t>(offset), length)) {
      if (bo_off < bo->size_bytes()) bo->Read(bo_off, p, std::min<uint64_t>(length, bo->size_bytes() - bo_off));
    }
    if (prot != (PROT_READ | PROT_WRITE)) mprotect(p, length, prot);
    return p;
  }
  REAL(mmap);
  return real_mmap(addr, length, prot, flags, fd, offset);
}
int munmap(void* addr, size_t length) {
  Shim& s = Shim::Get();
  {
    std::lock_guard<std::recursive_mutex> lock(s.mu());
    auto it = s.maps().find(reinterpret_cast<uintptr_t>(addr));
    if (it != s.maps().end()) {
      s.FlushToBos();  // what the CPU wrote stays in the BO
      s.maps().erase(it);
    }
  }
  REAL(munmap);
  return real_munmap(addr, length);
}

void* mmap64(void* addr, size_t length, int prot, int flags, int fd, off64_t offset) {
  return mmap(addr, length, prot, flags, fd, static_cast<off_t>(offset));
}

int stat(const char* path, struct stat* st) {
  if (FillStat(path, st, true) == 0) return 0;
  REAL(stat);
  return real_stat(path, st);
}
int stat64(const char* path, struct stat64* st) {
  if (FillStat(path, reinterpret_cast<struct stat*>(st), true) == 0) return 0;
  REAL(stat64);
  return real_stat64(path, st);
}
int lstat(const char* path, struct stat* st) {
  if (FillStat(path, st, false) == 0) return 0;
  REAL(lstat);
  return real_lstat(path, st);
}
int lstat64(const char* path, struct stat64* st) {
  if (FillStat(path, reinterpret_cast<struct stat*>(st), false) == 0) return 0;
  REAL(lstat64);
  return real_lstat64(path, st);
}
static int FstatOurs(int fd, struct stat* st) {
  Node* n = Ours(fd);
  if (!n) return 1;
  FakeStat(Kind::kCharDev, n->type == NodeType::kPrimary ? 0 : 1, st);
  return 0;
}
int fstat(int fd, struct stat* st) {
  if (FstatOurs(fd, st) == 0) return 0;
  REAL(fstat);
  return real_fstat(fd, st);
}
int fstat64(int fd, struct stat64* st) {
  if (FstatOurs(fd, reinterpret_cast<struct stat*>(st)) == 0) return 0;
  REAL(fstat64);
  return real_fstat64(fd, st);
}
int fstatat(int dirfd, const char* path, struct stat* st, int flags) {
  if (path && path[0] == '\0' && (flags & AT_EMPTY_PATH) && FstatOurs(dirfd, st) == 0) return 0;
  if (path && path[0] == '/' && FillStat(path, st, !(flags & AT_SYMLINK_NOFOLLOW)) == 0) return 0;
  REAL(fstatat);
  return real_fstatat(dirfd, path, st, flags);
}
int fstatat64(int dirfd, const char* path, struct stat64* st, int flags) {
  return fstatat(dirfd, path, reinterpret_cast<struct stat*>(st), flags);
}

int statx(int dirfd, const char* path, int flags, unsigned int mask, struct statx* sx) {
  struct stat st;
  int filled = 1;
  if (path && path[0] == '\0' && (flags & AT_EMPTY_PATH)) {
    filled = FstatOurs(dirfd, &st);
  } else if (path && path[0] == '/') {
    filled = FillStat(path, &st, !(flags & AT_SYMLINK_NOFOLLOW));
  }
  if (filled == 0) {
    memset(sx, 0, sizeof(*sx));
    sx->stx_mask = STATX_BASIC_STATS;
    sx->stx_mode = static_cast<uint16_t>(st.st_mode);
    sx->stx_nlink = static_cast<uint32_t>(st.st_nlink);
    sx->stx_blksize = static_cast<uint32_t>(st.st_blksize);
    sx->stx_size = static_cast<uint64_t>(st.st_size);
    sx->stx_ino = st.st_ino;
    sx->stx_rdev_major = major(st.st_rdev);
    sx->stx_rdev_minor = minor(st.st_rdev);
    return 0;
  }
  REAL(statx);
  return real_statx(dirfd, path, flags, mask, sx);
}

// The pre-2.33 glibc entry points older binaries still call.
int __xstat(int ver, const char* path, struct stat* st) {
  if (FillStat(path, st, true) == 0) return 0;
  REAL(__xstat);
  return real___xstat(ver, path, st);
}
int __lxstat(int ver, const char* path, struct stat* st) {
  if (FillStat(path, st, false) == 0) return 0;
  REAL(__lxstat);
  return real___lxstat(ver, path, st);
}
int __fxstat(int ver, int fd, struct stat* st) {
  if (FstatOurs(fd, st) == 0) return 0;
  REAL(__fxstat);
  return real___fxstat(ver, fd, st);
}
int __xstat64(int ver, const char* path, struct stat64* st) {
  if (FillStat(path, reinterpret_cast<struct stat*>(st), true) == 0) return 0;
  REAL(__xstat64);
  return real___xstat64(ver, path, st);
}
int __lxstat64(int ver, const char* path, struct stat64* st) {
  if (FillStat(path, reinterpret_cast<struct stat*>(st), false) == 0) return 0;
  REAL(__lxstat64);
  return real___lxstat64(ver, path, st);
}
int __fxstat64(int ver, int fd, struct stat64* st) {
  if (FstatOurs(fd, reinterpret_cast<struct stat*>(st)) == 0) return 0;
  REAL(__fxstat64);
  return real___fxstat64(ver, fd, st);
}

int access(const char* path, int mode) {
  if (path && Lookup(path) != Kind::kNone) return 0;
  REAL(access);
  return real_access(path, mode);
}

static ssize_t FakeReadlink(const char* path, char* buf, size_t size) {
  if (!path || !Shim::Get().emulate()) return -2;
  std::string target;
  std::string rest;
  int fd = -1;
  if (absl::StartsWith(path, "/proc/self/fd/") && absl::SimpleAtoi(path + 14, &fd)) {
    if (Node* n = Ours(fd)) target = n->type == NodeType::kPrimary ? kCard : kRender;
  } else if (SysfsDevice(path, &rest)) {
    if (rest == "/subsystem") target = "../../../bus/platform";
    if (rest == "/driver") target = "../../../bus/platform/drivers/panthor";
  } else if (strcmp(path, "/sys/dev/char/226:0") == 0 || strcmp(path, "/sys/dev/char/226:128") == 0) {
    target = absl::StrCat("../../devices/platform/", Shim::Get().profile().unique, "/drm/",
                          strcmp(path, "/sys/dev/char/226:0") == 0 ? "card0" : "renderD128");
  }
  if (target.empty()) return -2;
  const size_t n = std::min(size, target.size());
  memcpy(buf, target.data(), n);
  return static_cast<ssize_t>(n);
}
ssize_t readlink(const char* path, char* buf, size_t size) {
  const ssize_t r = FakeReadlink(path, buf, size);
  if (r != -2) return r;
  REAL(readlink);
  return real_readlink(path, buf, size);
}

char* realpath(const char* path, char* resolved) {
  std::string rest, out;
  if (path && SysfsDevice(path, &rest)) {
    out = absl::StrCat("/sys/devices/platform/", Shim::Get().profile().unique, rest);
  } else if (path && Lookup(path) != Kind::kNone) {
    out = path;
  }
  if (!out.empty()) {
    if (resolved == nullptr) return strdup(out.c_str());
    snprintf(resolved, PATH_MAX, "%s", out.c_str());
    return resolved;
  }
  REAL(realpath);
  return real_realpath(path, resolved);
}

char* __realpath_chk(const char* path, char* resolved, size_t resolved_len) {
  (void)resolved_len;  // PATH_MAX-sized by contract; ours are short
  return realpath(path, resolved);
}

DIR* opendir(const char* path) {
  if (path && Lookup(path) == Kind::kDir) {
    auto* d = new FakeDir();
    d->names = ListDir(path);
    FakeDirs().insert(d);
    return reinterpret_cast<DIR*>(d);
  }
  REAL(opendir);
  return real_opendir(path);
}
struct dirent* readdir(DIR* dir) {
  if (FakeDirs().count(dir)) {
    auto* d = reinterpret_cast<FakeDir*>(dir);
    if (d->next >= d->names.size()) return nullptr;
    memset(&d->ent, 0, sizeof(d->ent));
    const std::string& n = d->names[d->next++];
    snprintf(d->ent.d_name, sizeof(d->ent.d_name), "%s", n.c_str());
    d->ent.d_type = n[0] == '.' ? DT_DIR : (n == "card0" || n == "renderD128") ? DT_CHR : DT_REG;
    d->ent.d_ino = d->next;
    return &d->ent;
  }
  REAL(readdir);
  return real_readdir(dir);
}
struct dirent64* readdir64(DIR* dir) {
  if (FakeDirs().count(dir)) {
    struct dirent* e = readdir(dir);
    if (!e) return nullptr;
    auto* d = reinterpret_cast<FakeDir*>(dir);
    memcpy(&d->ent64, e, sizeof(d->ent64) < sizeof(*e) ? sizeof(d->ent64) : sizeof(*e));
    return &d->ent64;
  }
  REAL(readdir64);
  return real_readdir64(dir);
}
int closedir(DIR* dir) {
  if (FakeDirs().erase(dir)) {
    delete reinterpret_cast<FakeDir*>(dir);
    return 0;
  }
  REAL(closedir);
  return real_closedir(dir);
}

}  // extern "C"
