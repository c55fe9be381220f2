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
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <atomic>
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
#include "agents/collect/kernel_log.h"
#include "cli/host.h"
#include "engine/dev/device.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"
#include "engine/replay/recorder.h"
#include "engine/trace/writer.h"
#include "agents/loopback/protocol.h"
#include "agents/shim/capture.h"
#include "agents/shim/twin_host.h"

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

int Errno(int e) {
  errno = e;
  return -1;
}

using faultlab::shim::CpuMapping;
using faultlab::shim::ProcessMemory;

struct Node {
  File* file;
  NodeType type;
};

// --- passthrough (board capture, docs/board.md) ------------------------------

// The kernel a passthrough fd talks to: the real one, the loopback kernel
// (faultlab-loopback behind FAULTLAB_BACKEND=unix:PATH) or a stand-in node
// (FAULTLAB_DEVICE=PATH, whose every ioctl is recorded: the capture-cost
// benchmark's). Calls go to it as real syscalls; Capture records them.
class Passthrough {
 public:
  enum class Kernel { kReal, kLoopback, kStandIn };

  Passthrough(Kernel k, std::string where) : kernel_(k), where_(std::move(where)) {
    for (auto& id : ids_) id.store(0, std::memory_order_relaxed);
    if (k == Kernel::kReal) FindRealDevice();
  }
  Kernel kernel() const { return kernel_; }

  // The device's profile (loopback: what the backend runs, for the fake sysfs).
  const faultlab::dev::Profile& profile() {
    std::call_once(profile_once_, [this] {
      std::string id = "g610";
      if (kernel_ == Kernel::kLoopback) {
        faultlab::loopback::Reply r;
        if (Hello(&r) == 0) id = std::string(r.profile, strnlen(r.profile, sizeof(r.profile)));
      }
      auto p = faultlab::dev::LoadProfile(id);
      if (!p.ok()) p = faultlab::dev::LoadProfile("g610");
      profile_ = *p;
    });
    return profile_;
  }

  // Is `path` the device? (*node: 0 primary, 1 render)
  bool Claims(const char* path, int* node) const {
    if (!path || !usable_) return false;
    switch (kernel_) {
      case Kernel::kStandIn: *node = 1; return where_ == path;
      case Kernel::kLoopback:
        if (strcmp(path, "/dev/dri/card0") == 0) return *node = 0, true;
        if (strcmp(path, "/dev/dri/renderD128") == 0) return *node = 1, true;
        return false;
      case Kernel::kReal:
        if (!panthor_nodes_.count(path)) return false;
        *node = absl::StartsWith(path, "/dev/dri/card") ? 0 : 1;
        return true;
    }
    return false;
  }

  int Open(const char* path, int node, int flags, mode_t mode) {
    REAL(open);
    int fd;
    if (kernel_ == Kernel::kLoopback) {
      fd = LoopbackOpen(node, flags & O_CLOEXEC);
      if (fd < 0) return Errno(-fd);
    } else {
      fd = real_open(path, flags, mode);
      if (fd < 0) return fd;
    }
    std::lock_guard<std::mutex> lock(mu_);
    StartCapture();
    const uint32_t file = cap() ? cap()->Open(node == 0) : ++untraced_files_;
    Set(fd, file);
    refs_[file] = 1;
    nodes_[file] = node;
    if (Logging()) Log(absl::StrCat("passthrough open ", path, " -> fd ", fd, " (file ", file, ")"));
    return fd;
  }

  // The capture's file id of a descriptor; 0: not the device's.
  uint32_t FileOf(int fd) const {
    if (fd >= 0 && fd < kFast) return ids_[fd].load(std::memory_order_acquire);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slow_ids_.find(fd);
    return it == slow_ids_.end() ? 0 : it->second;
  }
  int NodeOf(uint32_t file) {
    std::lock_guard<std::mutex> lock(mu_);
    return nodes_[file];
  }
  void Alias(int from, int to) {
    const uint32_t file = FileOf(from);
    if (!file || to < 0) return;
    if (FileOf(to)) Forget(to);
    std::lock_guard<std::mutex> lock(mu_);
    Set(to, file);
    ++refs_[file];
  }
  void Forget(int fd) {
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

  int Ioctl(int fd, uint32_t file, unsigned long request, void* arg) {
    const uint32_t req = static_cast<uint32_t>(request);
    namespace uapi = faultlab::uapi;
    const bool wait = req == uapi::kDrmIoctlSyncobjWait || req == uapi::kDrmIoctlSyncobjTimelineWait;
    // Calls that do not block are recorded in the order the kernel ran them:
    // one at a time, from before the call until recorded.
    std::unique_lock<std::mutex> order(order_, std::defer_lock);
    if (!wait) order.lock();
    if (req == uapi::kPanthorIoctlBoCreate && series_ == "absent") FlagAllocOnFault(arg);
    thread_local faultlab::shim::Capture::Call call;  // reused: its buffers stay allocated
    faultlab::shim::Capture* capture = cap();
    if (wait) InFlight(file, +1);
    if (capture) capture->Begin(&call, file, req, arg);
    const int ret = KernelIoctl(fd, request, arg);
    // A wait is recorded after the call that released it (which holds the
    // order until it is recorded), as a replay must repeat them.
    if (wait) order.lock();
    if (capture) {
      capture->End(&call, arg, ret);
      if (wait || req == uapi::kPanthorIoctlGroupSubmit) capture->GpuRan();
    }
    if (wait) InFlight(file, -1);
    return ret;
  }

  void* Mmap(void* addr, size_t length, int prot, int flags, int fd, uint32_t file, off_t offset) {
    REAL(mmap);
    void* p;
    int result = 0;
    if (kernel_ == Kernel::kLoopback) {
      faultlab::loopback::Request r;
      r.op = faultlab::loopback::kMmap;
      r.offset = static_cast<uint64_t>(offset);
      r.length = length;
      r.flags = flags;
      r.prot = prot;
      faultlab::loopback::Reply reply;
      int memfd = -1;
      result = LoopbackCall(fd, r, &reply, &memfd);
      if (result == 0) result = static_cast<int>(reply.ret);
      p = MAP_FAILED;
      if (result == 0 && memfd >= 0) {
        p = real_mmap(addr, length, prot, flags, memfd, 0);
        if (p == MAP_FAILED) result = -errno;
      }
      if (memfd >= 0) close(memfd);
      if (p != MAP_FAILED) {
        std::lock_guard<std::mutex> lock(mu_);
        map_ids_[reinterpret_cast<uintptr_t>(p)] = {fd, reply.map_id};
      }
      if (p == MAP_FAILED) errno = -result;
    } else {
      p = real_mmap(addr, length, prot, flags, fd, offset);
      if (p == MAP_FAILED) result = -errno;
    }
    if (cap()) {
      const int saved = errno;
      cap()->Mapped(file, p, static_cast<uint64_t>(offset), length, prot, flags, result);
      errno = saved;
    }
    return p;
  }
  void Unmapped(void* addr) {
    if (cap()) cap()->Unmapped(addr);
    if (kernel_ != Kernel::kLoopback) return;
    std::pair<int, uint64_t> id{-1, 0};
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map_ids_.find(reinterpret_cast<uintptr_t>(addr));
      if (it == map_ids_.end()) return;
      id = it->second;
      map_ids_.erase(it);
    }
    faultlab::loopback::Request r;
    r.op = faultlab::loopback::kMunmap;
    r.map_id = id.second;
    faultlab::loopback::Reply reply;
    LoopbackCall(id.first, r, &reply, nullptr);
  }

  void Finish() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cap()) return;  // (a forked child does not own the parent's trace)
    CollectKernelFacts();
    absl::Status s = capture_->Finish();
    if (!s.ok()) fprintf(stderr, "faultlab-shim: FAULTLAB_TRACE: %s\n", std::string(s.message()).c_str());
    capture_.reset();
  }

 private:
  static constexpr int kFast = 4096;

  // Waits in progress on a file: a close during one is recorded after it.
  void InFlight(uint32_t file, int delta) {
    std::lock_guard<std::mutex> lock(mu_);
    if ((in_flight_[file] += delta) == 0 && delta < 0 && !refs_.count(file)) Closed(file);
  }
  void Closed(uint32_t file) {  // under mu_
    in_flight_.erase(file);
    if (cap()) cap()->Close(file);
  }

  // One ioctl to the kernel behind the device: 0 or more, or -errno.
  int KernelIoctl(int fd, unsigned long request, void* arg) {
    if (kernel_ == Kernel::kLoopback) {
      faultlab::loopback::Request r;
      r.op = faultlab::loopback::kIoctl;
      r.request = static_cast<uint32_t>(request);
      r.arg = reinterpret_cast<uint64_t>(arg);
      faultlab::loopback::Reply reply;
      const int e = LoopbackCall(fd, r, &reply, nullptr);
      return e ? e : static_cast<int>(reply.ret);
    }
    REAL(ioctl);
    const int ret = real_ioctl(fd, request, arg);
    return ret < 0 ? -errno : ret;
  }

  // The capture, in the process that started it (a forked child's calls go
  // to the kernel unrecorded: the parent's writer is not running there).
  faultlab::shim::Capture* cap() const { return forked_child_ ? nullptr : capture_.get(); }
  static inline std::atomic<bool> forked_child_{false};

  void Set(int fd, uint32_t file) {  // under mu_
    if (fd >= 0 && fd < kFast) {
      ids_[fd].store(file, std::memory_order_release);
    } else if (file) {
      slow_ids_[fd] = file;
    } else {
      slow_ids_.erase(fd);
    }
  }

  // /dev/dri's nodes that say "panthor" to DRM_IOCTL_VERSION; none: say so.
  void FindRealDevice() {
    REAL(opendir);
    REAL(readdir);
    REAL(closedir);
    REAL(open);
    REAL(close);
    DIR* d = real_opendir("/dev/dri");
    std::vector<std::string> nodes;
    if (d) {
      while (struct dirent* e = real_readdir(d)) {
        if (absl::StartsWith(e->d_name, "card") || absl::StartsWith(e->d_name, "renderD")) {
          nodes.push_back(std::string("/dev/dri/") + e->d_name);
        }
      }
      real_closedir(d);
    }
    for (const std::string& n : nodes) {
      const int fd = real_open(n.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) continue;
      char name[32] = {};
      faultlab::uapi::DrmVersion v{};
      v.name_len = sizeof(name) - 1;
      v.name = reinterpret_cast<uint64_t>(name);
      REAL(ioctl);
      if (real_ioctl(fd, faultlab::uapi::kDrmIoctlVersion, &v) == 0 && strcmp(name, "panthor") == 0) {
        panthor_nodes_.insert(n);
      }
      real_close(fd);
    }
    if (panthor_nodes_.empty()) {
      usable_ = false;
      fprintf(stderr,
              "faultlab-shim: passthrough: no panthor device here (no node under /dev/dri answers "
              "DRM_IOCTL_VERSION with \"panthor\"); %s runs unrecorded\n",
              program_invocation_short_name);
    }
  }

  // What the kernel is: its driver version, its GPU and whether it has the
  // alloc-on-fault series — probed on a descriptor of the shim's own, never
  // the program's (spec 2.3: the series did not bump the version, and from
  // 1.7 flag bit 1 is WB_MMAP: there it cannot be the series).
  void Probe(std::vector<faultlab::trace::ConfigEntry>* config, std::string* profile_id) {
    namespace uapi = faultlab::uapi;
    REAL(open);
    int fd = -1;
    if (kernel_ == Kernel::kLoopback) {
      fd = LoopbackOpen(1, O_CLOEXEC);
    } else if (!panthor_nodes_.empty()) {
      fd = real_open(panthor_nodes_.rbegin()->c_str(), O_RDWR | O_CLOEXEC);
    }
    if (fd < 0) return;
    char name[32] = {};
    uapi::DrmVersion v{};
    v.name_len = sizeof(name) - 1;
    v.name = reinterpret_cast<uint64_t>(name);
    if (KernelIoctl(fd, uapi::kDrmIoctlVersion, &v) == 0) {
      config->push_back(Entry("driver_version", absl::StrCat(v.version_major, ".", v.version_minor, ".",
                                                               v.version_patchlevel)));
    }
    uapi::PanthorGpuInfo info{};
    uapi::PanthorDevQuery q{uapi::kPanthorDevQueryGpuInfo, sizeof(info), reinterpret_cast<uint64_t>(&info)};
    if (KernelIoctl(fd, uapi::kPanthorIoctlDevQuery, &q) == 0) {
      config->push_back(Entry("gpu_id", absl::StrCat("0x", absl::Hex(info.gpu_id))));
      *profile_id = ProfileForGpu(info.gpu_id);
    }
    if (v.version_major == 1 && v.version_minor >= 7) {
      series_ = "absent";
    } else {
      uapi::PanthorBoCreate bc{};
      bc.size = 4096;
      bc.flags = uapi::kPanthorBoAllocOnFault;
      bc.alloc_on_fault_granularity = 4096;
      const int r = KernelIoctl(fd, uapi::kPanthorIoctlBoCreate, &bc);
      series_ = r == 0 ? "present" : r == -EINVAL ? "absent" : "unknown";
      if (r == 0) {
        uapi::DrmGemClose c{bc.handle, 0};
        KernelIoctl(fd, uapi::kDrmIoctlGemClose, &c);
      }
    }
    config->push_back(Entry("series", series_));
    close(fd);
  }

  static std::string ProfileForGpu(uint32_t gpu_id) {
    std::string by_product;
    for (const std::string& id : faultlab::dev::BuiltinProfileIds()) {
      auto p = faultlab::dev::LoadProfile(id);
      if (!p.ok()) continue;
      if (p->gpu_info.gpu_id == gpu_id) return id;
      if (by_product.empty() && (p->gpu_info.gpu_id >> 16) == (gpu_id >> 16)) by_product = id;
    }
    return by_product;
  }

  static faultlab::trace::ConfigEntry Entry(const std::string& k, const std::string& v) {
    faultlab::trace::ConfigEntry e;
    e.set_key(k);
    e.set_value(v);
    return e;
  }

  // At the first open: the trace's header says what was captured where.
  void StartCapture() {  // under mu_
    if (started_) return;
    started_ = true;
    // Probed whether or not a trace is wanted: the series check guards every BO_CREATE.
    std::vector<faultlab::trace::ConfigEntry> config;
    std::string profile_id;
    if (kernel_ != Kernel::kStandIn) Probe(&config, &profile_id);
    const char* path = std::getenv("FAULTLAB_TRACE");
    if (!path || !*path) return;
    if (profile_id.empty()) {
      const char* p = std::getenv("FAULTLAB_PROFILE");
      profile_id = p && *p ? p : "g610";
      config.push_back(Entry("profile_guessed", "1"));
    }
    struct utsname u {};
    uname(&u);
    config.push_back(Entry("kernel", u.release));
    config.push_back(Entry("backend", kernel_ == Kernel::kLoopback ? "unix:" + where_
                                      : kernel_ == Kernel::kStandIn ? "stand-in:" + where_
                                                                    : *panthor_nodes_.rbegin()));
    faultlab::trace::TraceHeader base;
    auto cfg = faultlab::replay::ConfigFromHeader(base, {{"profile", profile_id}, {"variant", "series-fixed"},
                                                         {"policy", "noretry"}});
    if (!cfg.ok()) cfg = faultlab::replay::ConfigFromHeader(base, {{"profile", "g610"}});
    auto sink = faultlab::trace::FileSink::Open(path);
    if (!sink.ok()) {
      fprintf(stderr, "faultlab-shim: FAULTLAB_TRACE: %s\n", std::string(sink.status().message()).c_str());
      return;
    }
    std::string program = "program";
    std::ifstream("/proc/self/comm") >> program;
    const char* board = std::getenv("FAULTLAB_BOARD");
    faultlab::trace::TraceHeader h = faultlab::replay::MakeHeader(
        *cfg, program, board && *board ? board : "board", faultlab::cli::HostTraceId(),
        faultlab::cli::HostWallClockNs());
    h.set_capture_source(faultlab::trace::CAPTURE_SOURCE_BOARD);
    for (const auto& e : config) *h.add_config() = e;
    h.set_note("board capture (the shim's passthrough mode)");
    faultlab::shim::InstallReadGuard();
    capture_ = std::make_unique<faultlab::shim::Capture>(std::move(*sink), h);
    OpenKernelSources();
    pthread_atfork(nullptr, nullptr, [] { forked_child_ = true; });
  }

  // --- kernel-side facts (docs/board.md "What the kernel says") ---
  // Where the kernel log and the kprobe brackets are read from, and from
  // which point: what was written there during the run is the run's.
  struct Source {
    std::string path;
    int fd = -1;       // /dev/kmsg: read record by record from the end
    off_t start = 0;   // a file: from its size at the start
    std::string error;
  };
  Source OpenSource(const std::string& path) {
    Source src;
    src.path = path;
    struct stat st {};
    REAL(open);
    REAL(stat);
    if (real_stat(path.c_str(), &st) != 0) {
      if (errno != ENOENT) src.error = strerror(errno);  // a log file not written yet: all of it is the run's
    } else if (S_ISCHR(st.st_mode) || absl::EndsWith(path, "/trace_pipe")) {
      // /dev/kmsg from its end; tracefs's trace_pipe emptied of what came before.
      src.fd = real_open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      if (src.fd < 0) {
        src.error = strerror(errno);
      } else if (S_ISCHR(st.st_mode)) {
        lseek(src.fd, 0, SEEK_END);
      } else {
        char drop[4096];
        while (read(src.fd, drop, sizeof(drop)) > 0) {
        }
      }
    } else {
      src.start = st.st_size;
    }
    return src;
  }
  std::string ReadSource(Source& src) {
    std::string text;
    char buf[8192];
    if (src.fd >= 0) {
      for (;;) {
        const ssize_t n = read(src.fd, buf, sizeof(buf));
        if (n > 0) {
          text.append(buf, n);
        } else if (n < 0 && errno == EPIPE) {
          continue;  // records overwritten before we read them: go on
        } else {
          break;
        }
      }
      close(src.fd);
      src.fd = -1;
    } else if (src.error.empty()) {
      REAL(open);
      const int fd = real_open(src.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        lseek(fd, src.start, SEEK_SET);
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0) text.append(buf, n);
        close(fd);
      }
    }
    return text;
  }
  void OpenKernelSources() {
    const char* kmsg = std::getenv("FAULTLAB_KMSG");
    if (kmsg && *kmsg) {
      kmsg_ = OpenSource(kmsg);
    } else if (kernel_ == Kernel::kReal) {
      kmsg_ = OpenSource("/dev/kmsg");
    }
    const char* kprobes = std::getenv("FAULTLAB_KPROBES");
    if (kprobes && *kprobes) kprobes_ = OpenSource(kprobes);
  }
  // One source's facts into the trace, after a marker saying what was read.
  using Facts = std::vector<faultlab::shim::Capture::Fact>;
  template <typename Parse>
  void Collect(Source& src, const char* kind, Parse parse) {
    if (src.path.empty()) return;
    Facts facts;
    const std::string summary =
        src.error.empty() ? parse(ReadSource(src), &facts) : absl::StrCat("unreadable (", src.error, ")");
    capture_->KernelFacts(absl::StrCat(kind, ":", src.path, ": ", summary), facts);
  }
  void CollectKernelFacts() {
    Collect(kmsg_, "kernel_log", [](const std::string& text, Facts* facts) {
      const faultlab::collect::KernelLog log = faultlab::collect::ParseKernelLog(text);
      for (const auto& f : log.faults) facts->push_back({f.as, f.va, f.status, false, 0});
      return absl::StrCat(log.faults.size(), " unhandled faults, ", log.lines, " lines, ", log.malformed,
                          " malformed");
    });
    Collect(kprobes_, "kprobes", [](const std::string& text, Facts* facts) {
      const faultlab::collect::KprobeTrace t = faultlab::collect::ParseKprobeTrace(text);
      for (uint64_t ns : t.fault_work_ns) facts->push_back({-1, 0, 0, true, ns});
      return absl::StrCat(t.fault_work_ns.size(), " fault works, ", t.irqs, " irqs, ", t.malformed, " malformed, ",
                          t.unmatched, " unmatched");
    });
  }

  // An alloc-on-fault BO_CREATE (flag bit 1 with a granularity) on a kernel
  // without the series: it goes to the kernel (which refuses the non-zero
  // pad), flagged in the trace and once on stderr, never given WB_MMAP's meaning.
  void FlagAllocOnFault(void* arg) {
    faultlab::uapi::PanthorBoCreate bc{};
    if (!faultlab::shim::SafeRead(&bc, reinterpret_cast<uint64_t>(arg), sizeof(bc))) return;
    if (!(bc.flags & faultlab::uapi::kPanthorBoAllocOnFault) || bc.alloc_on_fault_granularity == 0) return;
    if (cap()) cap()->Note("flag:alloc_on_fault_without_series");
    if (!warned_.exchange(true)) {
      fprintf(stderr,
              "faultlab-shim: BO_CREATE asks for alloc-on-fault, but this kernel has no alloc-on-fault series "
              "(flag bit 1 is %s here); the kernel answers it as it does, and the trace flags it\n",
              series_ == "absent" ? "WB_MMAP or unknown" : "not the series'");
    }
  }

  // --- the loopback kernel's client side (agents/loopback/protocol.h) ---
  int Connect() {
    const int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", where_.c_str());
    if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      const int e = errno;
      close(s);
      if (!warned_connect_.exchange(true)) {
        fprintf(stderr, "faultlab-shim: FAULTLAB_BACKEND=unix:%s: %s (is faultlab-loopback running?)\n",
                where_.c_str(), strerror(e));
      }
      return -ENODEV;
    }
    return s;
  }
  int Hello(faultlab::loopback::Reply* r) {
    const int s = Connect();
    if (s < 0) return s;
    faultlab::loopback::Request q;
    q.op = faultlab::loopback::kHello;
    const bool ok = send(s, &q, sizeof(q), MSG_NOSIGNAL) == sizeof(q) && recv(s, r, sizeof(*r), 0) == sizeof(*r);
    close(s);
    return ok ? 0 : -ENODEV;
  }
  int LoopbackOpen(int node, int cloexec) {
    const int s = Connect();
    if (s < 0) return s;
    if (!cloexec) fcntl(s, F_SETFD, 0);
    faultlab::loopback::Request q;
    q.op = faultlab::loopback::kOpen;
    q.node = static_cast<uint32_t>(node);
    faultlab::loopback::Reply r;
    if (send(s, &q, sizeof(q), MSG_NOSIGNAL) != sizeof(q) || recv(s, &r, sizeof(r), 0) != sizeof(r) || r.ret < 0) {
      close(s);
      return r.ret < 0 ? static_cast<int>(r.ret) : -ENODEV;
    }
    return s;
  }
  // One call: the answer comes back on a socketpair of its own. 0 or -errno.
  static int LoopbackCall(int fd, const faultlab::loopback::Request& q, faultlab::loopback::Reply* r, int* memfd) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return -errno;
    const ssize_t sent = faultlab::loopback::SendWithFd(fd, &q, sizeof(q), pair[1]);
    close(pair[1]);
    ssize_t got = -ENODEV;
    if (sent == sizeof(q)) got = faultlab::loopback::RecvWithFd(pair[0], r, sizeof(*r), memfd);
    close(pair[0]);
    return got == sizeof(*r) ? 0 : -ENODEV;  // the kernel went away: as an unplugged device
  }

  const Kernel kernel_;
  const std::string where_;
  bool usable_ = true;
  std::set<std::string> panthor_nodes_;
  std::string series_ = "unknown";
  std::atomic<uint32_t> ids_[kFast];
  mutable std::mutex mu_;
  std::mutex order_;
  std::map<int, uint32_t> slow_ids_;
  std::map<uint32_t, int> refs_, nodes_, in_flight_;
  std::map<uintptr_t, std::pair<int, uint64_t>> map_ids_;  // loopback mappings -> (fd, map id)
  uint32_t untraced_files_ = 0;
  bool started_ = false;
  std::unique_ptr<faultlab::shim::Capture> capture_;
  Source kmsg_, kprobes_;
  std::once_flag profile_once_;
  faultlab::dev::Profile profile_;
  std::atomic<bool> warned_{false}, warned_connect_{false};
};

class Shim {
 public:
  static Shim& Get() {
    static Shim* s = new Shim();  // lives to the end: fds may be used in atexit handlers
    return *s;
  }
  bool emulate() const { return mode_ == Mode::kEmulate; }
  // The emulated /dev/dri and sysfs: for the in-process twin and the loopback kernel.
  bool fake_fs() const { return emulate() || (pt_ && pt_->kernel() == Passthrough::Kernel::kLoopback); }
  Passthrough* passthrough() { return pt_.get(); }
  std::recursive_mutex& mu() { return mu_; }

  Device* device() {
    if (!device_) Start();
    return device_.get();
  }
  const faultlab::dev::Profile& profile() { return pt_ ? pt_->profile() : device()->profile(); }
  std::map<int, Node>& fds() { return fds_; }
  std::map<File*, int>& refs() { return refs_; }
  std::map<File*, int>& waiting() { return waiting_; }  // waits in progress per file
  faultlab::shim::CpuMappings& maps() { return maps_; }
  std::set<uint64_t>& bases() { return bases_; }

  // CPU writes go into the BOs before the GPU runs; its writes come out after.
  void FlushToBos() { faultlab::shim::FlushToBos(*device_, maps_); }
  void FillFromBos() { faultlab::shim::FillFromBos(*device_, maps_); }
  ProcessMemory* memory() { return &mem_; }

  void Finish() {
    if (pt_) pt_->Finish();
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
  enum class Mode { kEmulate, kPassthrough, kOff };

  Shim() {
    const char* m = std::getenv("FAULTLAB_SHIM");
    const std::string mode = m ? m : "";
    if (mode.empty() || mode == "emulate") {
      mode_ = Mode::kEmulate;
    } else if (mode == "passthrough") {
      mode_ = Mode::kPassthrough;
      const char* backend = std::getenv("FAULTLAB_BACKEND");
      const char* node = std::getenv("FAULTLAB_DEVICE");
      if (backend && *backend) {
        if (absl::StartsWith(backend, "unix:")) {
          pt_ = std::make_unique<Passthrough>(Passthrough::Kernel::kLoopback, backend + 5);
        } else {
          fprintf(stderr, "faultlab-shim: FAULTLAB_BACKEND=%s: expected unix:PATH; using the real device\n", backend);
        }
      } else if (node && *node) {
        pt_ = std::make_unique<Passthrough>(Passthrough::Kernel::kStandIn, node);
      }
      if (!pt_) pt_ = std::make_unique<Passthrough>(Passthrough::Kernel::kReal, "");
    } else {
      mode_ = Mode::kOff;
      fprintf(stderr, "faultlab-shim: FAULTLAB_SHIM=%s: expected emulate or passthrough; the shim stays out of the way\n",
              mode.c_str());
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

  Mode mode_ = Mode::kEmulate;
  std::unique_ptr<Passthrough> pt_;
  std::recursive_mutex mu_;
  std::unique_ptr<Device> device_;
  ProcessMemory mem_;
  std::map<int, Node> fds_;
  std::map<File*, int> refs_;
  std::map<File*, int> waiting_;
  faultlab::shim::CpuMappings maps_;
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
  if (!path || !Shim::Get().fake_fs()) return -1;
  if (strcmp(path, kCard) == 0) return 0;
  if (strcmp(path, kRender) == 0) return 1;
  return -1;
}

// The sysfs directory of minor 0 or 128: /sys/dev/char/226:M/device.
bool SysfsDevice(const std::string& path, std::string* rest) {
  if (!Shim::Get().fake_fs()) return false;
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
  if (!Shim::Get().fake_fs()) return Kind::kNone;
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

void CloseFile(File* f);

void Forget(int fd) {
  Shim& s = Shim::Get();
  std::lock_guard<std::recursive_mutex> lock(s.mu());
  auto it = s.fds().find(fd);
  if (it == s.fds().end()) return;
  File* f = it->second.file;
  s.fds().erase(it);
  if (--s.refs()[f] == 0) {
    s.refs().erase(f);
    if (s.waiting()[f] == 0) CloseFile(f);  // else when its last wait returns
  }
}

// drm_release(): the file's last descriptor closed and no call in it.
void CloseFile(File* f) {
  Shim& s = Shim::Get();
  s.waiting().erase(f);
  // Its mappings stay in the process as they are, no longer kept coherent.
  for (auto it = s.maps().begin(); it != s.maps().end();) {
    it = it->second.file == f ? s.maps().erase(it) : std::next(it);
  }
  s.device()->EmitMarker(faultlab::trace::MARKER_NOTE, f->id(), absl::StrCat("close:", f->id()));
  s.device()->Close(f);
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


int FillStat(const char* path, struct stat* st, bool follow) {
  int node = 0;
  const Kind k = Lookup(path ? path : "", &node);
  if (k == Kind::kNone) return 1;  // not ours
  FakeStat(k == Kind::kLink && follow ? Kind::kDir : k, node, st);
  return 0;
}

}  // namespace

namespace {

// Wakes waits blocked in host time: something was submitted or signalled.
std::condition_variable_any& Progress() {
  static auto* cv = new std::condition_variable_any();
  return *cv;
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
  if (Passthrough* pt = Shim::Get().passthrough()) {              \
    int pt_node = 0;                                              \
    if (pt->Claims(path, &pt_node)) return pt->Open(path, pt_node, flags, mode); \
  }                                                               \
  const int node = Shim::Get().emulate() ? NodeOfPath(path) : -1; \
  if (node >= 0) return OpenNode(node, flags);                    \
  if (path && absl::StartsWith(path, "/dev/dri/") && Shim::Get().fake_fs()) return Errno(ENOENT); \
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

static Passthrough* PtOf(int fd, uint32_t* file = nullptr) {
  Passthrough* pt = Shim::Get().passthrough();
  const uint32_t f = pt ? pt->FileOf(fd) : 0;
  if (file) *file = f;
  return f ? pt : nullptr;
}

int close(int fd) {
  if (Ours(fd)) Forget(fd);
  if (Passthrough* pt = PtOf(fd)) pt->Forget(fd);
  REAL(close);
  return real_close(fd);
}

int dup(int fd) {
  REAL(dup);
  const int r = real_dup(fd);
  if (r >= 0 && Ours(fd)) Alias(fd, r);
  if (Passthrough* pt = r >= 0 ? PtOf(fd) : nullptr) pt->Alias(fd, r);
  return r;
}
int dup2(int fd, int to) {
  REAL(dup2);
  if (fd != to && Ours(to)) Forget(to);
  if (Passthrough* pt = fd != to ? PtOf(to) : nullptr) pt->Forget(to);
  const int r = real_dup2(fd, to);
  if (r >= 0 && fd != to && Ours(fd)) Alias(fd, r);
  if (Passthrough* pt = r >= 0 && fd != to ? PtOf(fd) : nullptr) pt->Alias(fd, r);
  return r;
}
int dup3(int fd, int to, int flags) {
  REAL(dup3);
  if (fd != to && Ours(to)) Forget(to);
  if (Passthrough* pt = fd != to ? PtOf(to) : nullptr) pt->Forget(to);
  const int r = real_dup3(fd, to, flags);
  if (r >= 0 && Ours(fd)) Alias(fd, r);
  if (Passthrough* pt = r >= 0 ? PtOf(fd) : nullptr) pt->Alias(fd, r);
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
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) {
    if (Passthrough* pt = PtOf(fd)) pt->Alias(fd, r);
  }
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
  uint32_t pt_file = 0;
  if (Passthrough* pt = PtOf(fd, &pt_file)) {
    const int ret = pt->Ioctl(fd, pt_file, request, arg);
    return ret < 0 ? Errno(-ret) : ret;
  }
  if (Node* n = Ours(fd)) {
    Shim& s = Shim::Get();
    std::unique_lock<std::recursive_mutex> lock(s.mu());
    const uint32_t req = static_cast<uint32_t>(request);
    // The GPU runs inside these: the CPU's writes go in before, its own come out after.
    const bool gpu = req == faultlab::uapi::kPanthorIoctlGroupSubmit || req == faultlab::uapi::kDrmIoctlSyncobjWait ||
                     req == faultlab::uapi::kDrmIoctlSyncobjTimelineWait;
    if (gpu) s.FlushToBos();
    int ret;
    File* const file = n->file;  // (n may go with a close while a wait lets go of the lock)
    if (req == faultlab::uapi::kDrmIoctlSyncobjWait || req == faultlab::uapi::kDrmIoctlSyncobjTimelineWait) {
      ++s.waiting()[file];
      ret = req == faultlab::uapi::kDrmIoctlSyncobjWait
                ? faultlab::shim::TwinSyncobjWait<faultlab::uapi::DrmSyncobjWait>(
                      *s.device(), *s.memory(), lock, Progress(), file, req, reinterpret_cast<uint64_t>(arg))
                : faultlab::shim::TwinSyncobjWait<faultlab::uapi::DrmSyncobjTimelineWait>(
                      *s.device(), *s.memory(), lock, Progress(), file, req, reinterpret_cast<uint64_t>(arg));
      if (--s.waiting()[file] == 0 && !s.refs().count(file)) CloseFile(file);  // closed meanwhile
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
  uint32_t pt_file = 0;
  if (Passthrough* pt = PtOf(fd, &pt_file)) return pt->Mmap(addr, length, prot, flags, fd, pt_file, offset);
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
    s.maps()[reinterpret_cast<uintptr_t>(p)] = CpuMapping{n->file, static_cast<uint64_t>(offset), bo_off, length, prot,
                                                         (flags & MAP_SHARED) != 0, static_cast<char*>(p), true};
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
  if (Passthrough* pt = s.passthrough()) pt->Unmapped(addr);
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
  uint32_t pt_file = 0;
  Passthrough* pt = PtOf(fd, &pt_file);
  if (pt && pt->kernel() == Passthrough::Kernel::kLoopback) {  // a socket that poses as the node
    FakeStat(Kind::kCharDev, pt->NodeOf(pt_file), st);
    return 0;
  }
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
  if (!path || !Shim::Get().fake_fs()) return -2;
  std::string target;
  std::string rest;
  int fd = -1;
  if (absl::StartsWith(path, "/proc/self/fd/") && absl::SimpleAtoi(path + 14, &fd)) {
    if (Node* n = Ours(fd)) target = n->type == NodeType::kPrimary ? kCard : kRender;
    Passthrough* pt = Shim::Get().passthrough();
    if (const uint32_t file = pt ? pt->FileOf(fd) : 0) target = pt->NodeOf(file) == 0 ? kCard : kRender;
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
