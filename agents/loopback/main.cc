// faultlab-loopback: the twin behind a unix socket, posing as the kernel for
// the shim's passthrough mode (FAULTLAB_SHIM=passthrough
// FAULTLAB_BACKEND=unix:PATH), so that board capture is exercised on a machine
// with no Mali GPU (docs/board.md "Loopback backend"; protocol.h).
//
//   faultlab-loopback --socket /tmp/fl.sock [--profile g610 --variant series-fixed
//                     --policy noretry --budget 1G] [--kmsg FILE]
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agents/loopback/protocol.h"
#include "agents/twin/twin_host.h"
#include "engine/dev/device.h"
#include "engine/replay/recorder.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/ioctls.h"
#include "engine/uapi/panthor.h"
#include "lib/args/args.h"
#include "lib/collect/kprobes.h"

namespace {

using faultlab::dev::Device;
using faultlab::dev::File;
using faultlab::loopback::Reply;
using faultlab::loopback::Request;
namespace uapi = faultlab::uapi;

constexpr char kUsage[] =
    "usage: faultlab-loopback --socket PATH [--profile ID] [--variant V] [--policy P]\n"
    "                         [--budget SIZE] [--kmsg FILE] [--kprobes FILE] [--no-series]\n"
    "                         [--any-user] [--job-timeout-ms MS] [--fault-cost-permille N]\n"
    "\n"
    "The twin behind a unix socket, posing as the kernel: programs run with\n"
    "  LD_PRELOAD=libfaultlab_shim.so FAULTLAB_SHIM=passthrough FAULTLAB_BACKEND=unix:PATH\n"
    "see a panthor device whose ioctls, mappings and faults this process answers,\n"
    "and the shim records them as it would on a board. One twin for every client.\n"
    "  --variant V   series-fixed (default) or series-v3: a kernel with the\n"
    "                alloc-on-fault series (driver 1.6); mainline: driver 1.7\n"
    "  --job-timeout-ms MS  kill a job still running after MS ms (default: the\n"
    "                profile's, panthor's 5000)\n"
    "  --kmsg FILE   append the twin's kernel log (unhandled faults, ...) to FILE\n"
    "                in dmesg's format, as a board's /dev/kmsg would show them\n"
    "  --kprobes FILE  append each fault's work to FILE as a board's kprobes show\n"
    "                it in trace_pipe (the fault stream: AS, VA, status, IRQ, work\n"
    "                start and end, outcome; docs/board.md), on CLOCK_MONOTONIC\n"
    "  --fault-cost-permille N  scale the fault path's modelled costs (1000: the\n"
    "                profile's), as a slower or faster kernel\n"
    "  --no-series   pose as a kernel before 1.7 without the series: BO_CREATE\n"
    "                refuses any flag but NO_MMAP and a non-zero pad\n"
    "  --any-user    let every local user's programs connect (the socket is the\n"
    "                owner's alone by default: clients map the twin's one file of\n"
    "                BO bytes, so each could read and write the others' BOs)\n"
    "Stops on SIGINT/SIGTERM.\n";

class Kernel {
 public:
  Kernel(const faultlab::dev::DeviceConfig& cfg, std::string kmsg, const std::string& kprobes,
         bool no_series)
      : host_(cfg), kmsg_(std::move(kmsg)), no_series_(no_series) {
    if (!kprobes.empty()) {
      kprobes_ = fopen(kprobes.c_str(), "a");
      if (!kprobes_) {
        fprintf(stderr, "faultlab-loopback: --kprobes %s: %s\n", kprobes.c_str(), strerror(errno));
      } else {
        host_.device().set_fault_timing_observer(
            [this](const faultlab::fault::FaultPath::Timing& t) { WriteFaultWork(t); });
      }
    }
    // The GPU runs in host time (docs/shim.md "The live device"); what it
    // logs goes out as it happens.
    host_.set_on_progress([this] { WriteKmsg(); });
    {
      std::lock_guard<std::recursive_mutex> lock(host_.mu());
      timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      mono_base_ns_ =
          static_cast<uint64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec - host_.device().now_ns();
    }
    host_.StartLive();
  }
  ~Kernel() {
    if (kprobes_) fclose(kprobes_);
  }

  // One connection: an open file of the twin until the peer closes it.
  void Serve(int sock) {
    Request req;
    const ssize_t n = recv(sock, &req, sizeof(req), 0);
    if (n != sizeof(req) || req.magic != faultlab::loopback::kMagic) {
      close(sock);
      return;
    }
    if (req.op == faultlab::loopback::kHello) {
      Reply r;
      snprintf(r.profile, sizeof(r.profile), "%s", host_.device().profile().id.c_str());
      send(sock, &r, sizeof(r), MSG_NOSIGNAL);
      close(sock);
      return;
    }
    if (req.op == faultlab::loopback::kText) {  // sysfs, before any open
      Reply r;
      int memfd = -1;
      {
        std::lock_guard<std::recursive_mutex> lock(host_.mu());
        r.ret = Text(req, nullptr, &memfd);
      }
      faultlab::loopback::SendWithFd(sock, &r, sizeof(r), memfd);
      if (memfd >= 0) close(memfd);
      close(sock);
      return;
    }
    if (req.op != faultlab::loopback::kOpen) {
      close(sock);
      return;
    }
    std::shared_ptr<Conn> conn = OpenFile(sock, req.node);
    Reply ok;
    send(sock, &ok, sizeof(ok), MSG_NOSIGNAL);
    for (;;) {
      int reply_fd = -1;
      const ssize_t got = faultlab::loopback::RecvWithFd(sock, &req, sizeof(req), &reply_fd);
      if (got != sizeof(req) || req.magic != faultlab::loopback::kMagic || reply_fd < 0) {
        if (reply_fd >= 0) close(reply_fd);
        break;  // the file's last descriptor closed (or a broken peer)
      }
      if (IsWait(req)) {
        // Another thread: a wait blocks nobody else's calls on the file.
        std::thread([this, conn, req, reply_fd] { Answer(*conn, req, reply_fd); }).detach();
      } else {
        Answer(*conn, req, reply_fd);
      }
    }
    close(sock);
    std::lock_guard<std::recursive_mutex> lock(host_.mu());
    host_.Release(conn->file);  // drm_release(), now or when its last wait returns
    WriteKmsg();
  }

 private:
  struct Conn {
    File* file = nullptr;
    std::unique_ptr<faultlab::twin::ProcessMemory> mem;
  };

  static bool IsWait(const Request& req) {
    const uapi::IoctlDesc* d =
        req.op == faultlab::loopback::kIoctl ? uapi::FindIoctl(req.request) : nullptr;
    return d &&
           (d->id == uapi::IoctlId::kSyncobjWait || d->id == uapi::IoctlId::kSyncobjTimelineWait);
  }

  // drm_open() for the peer at the other end of `sock`.
  std::shared_ptr<Conn> OpenFile(int sock, uint32_t node) {
    ucred cred{};
    socklen_t len = sizeof(cred);
    getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len);
    auto conn = std::make_shared<Conn>();
    conn->mem = std::make_unique<faultlab::twin::ProcessMemory>(cred.pid);
    std::lock_guard<std::recursive_mutex> lock(host_.mu());
    conn->file =
        host_.Open(node == 0 ? faultlab::dev::NodeType::kPrimary : faultlab::dev::NodeType::kRender,
                   conn->mem.get());
    return conn;
  }

  void Answer(Conn& c, const Request& req, int reply_fd) {
    Reply r;
    int memfd = -1;
    {
      std::unique_lock<std::recursive_mutex> lock(host_.mu());
      switch (req.op) {
        case faultlab::loopback::kIoctl: {
          int exported = -1;
          r.ret = Ioctl(c, lock, req.request, req.arg, reply_fd, &exported);
          if (exported >= 0) {  // the client gets a copy; this one is the device's key
            r.map_id = static_cast<uint64_t>(exported);
            memfd = dup(exported);
          }
          break;
        }
        case faultlab::loopback::kExport:
          r.ret = Export(c, req, &memfd, &r.map_offset, &r.map_id);
          break;
        case faultlab::loopback::kText:
          r.ret = Text(req, c.file, &memfd);
          break;
        case faultlab::loopback::kMmap:
          r.ret = Mmap(c, req, &memfd, &r.map_offset, &r.map_id);
          break;
        case faultlab::loopback::kMunmap:
          r.ret = host_.Unmap(req.map_id) ? 0 : -EINVAL;
          break;
        default:
          r.ret = -EINVAL;
      }
      WriteKmsg();
    }
    faultlab::loopback::SendWithFd(reply_fd, &r, sizeof(r), memfd);
    if (memfd >= 0) close(memfd);
    close(reply_fd);
  }

  int Ioctl(Conn& c, std::unique_lock<std::recursive_mutex>& lock, uint32_t req, uint64_t arg,
            int reply_fd, int* exported) {
    // The caller went away (its thread or process died): its answer socket hung up.
    auto gone = [reply_fd] {
      pollfd p{reply_fd, POLLRDHUP, 0};
      return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR));
    };
    const uapi::IoctlDesc* d = uapi::FindIoctl(req);
    if (no_series_ && d && d->id == uapi::IoctlId::kBoCreate) {
      // panthor_ioctl_bo_create() without the series: unknown flags and a
      // non-zero pad are -EINVAL (spec 2.x: all padding checked to be zero).
      uapi::PanthorBoCreate bc;
      if (c.mem->CopyFromUser(&bc, arg, sizeof(bc)) != 0) return -EFAULT;
      if ((bc.flags & ~uapi::kPanthorBoNoMmap) || bc.alloc_on_fault_granularity) return -EINVAL;
    }
    return host_.Ioctl(lock, c.file, *c.mem, req, arg, gone, exported);
  }

  // A descriptor the device handed out: its last close, a dma-buf's mmap
  // (its BO's bytes in the content file, as a BO's map), lseek, ioctls.
  int64_t Export(Conn& c, const Request& req, int* fd, uint64_t* map_offset, uint64_t* map_id) {
    const int32_t key = static_cast<int32_t>(req.map_id);
    const faultlab::dev::Device::Exported* e = host_.device().FindExport(key);
    if (e == nullptr) return -EBADF;
    switch (req.request) {
      case faultlab::loopback::kExportClose:
        host_.CloseExport(key);
        close(key);
        return 0;
      case faultlab::loopback::kExportMmap: {
        if (e->kind != faultlab::dev::Device::Exported::Kind::kDmaBuf) return -ENODEV;
        std::shared_ptr<faultlab::gem::Bo> bo = e->bo;
        const int ret =
            host_.device().MmapExport(key, req.offset, req.length, req.flags & MAP_SHARED);
        if (ret < 0) return ret;
        *fd = dup(host_.device().content_fd());
        if (*fd < 0) return -ENOMEM;
        *map_offset = bo->content_at() + req.offset;
        *map_id = host_.TrackDmaBuf(bo, req.offset, req.length, req.prot, nullptr);
        return 0;
      }
      case faultlab::loopback::kExportSeek:
        return host_.ExportSeek(key, static_cast<int64_t>(req.offset), req.flags);
      case faultlab::loopback::kExportIoctl:
        return host_.ExportIoctl(key, req.node, req.arg, *c.mem);
      default:
        return -EINVAL;
    }
  }

  // A file the device makes as it is read, as a memfd.
  int Text(const Request& req, File* file, int* fd) {
    std::string text;
    const std::string name(req.name, strnlen(req.name, sizeof(req.name)));
    if (!host_.LiveText(name, file, &text)) return -ENOENT;
    *fd = memfd_create("faultlab-text", MFD_CLOEXEC);
    if (*fd < 0) return -ENOMEM;
    if (write(*fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      close(*fd);
      *fd = -1;
      return -EIO;
    }
    return 0;
  }

  // panthor_mmap(): the twin says yes or no. A BO's pages travel as the
  // twin's content file and the offset of the BO's bytes in it (one copy);
  // the LATEST_FLUSH_ID page as a memfd of its own, which the twin keeps
  // reading the register.
  int Mmap(Conn& c, const Request& req, int* fd, uint64_t* map_offset, uint64_t* map_id) {
    const bool shared = req.flags & MAP_SHARED;
    if (const int ret = host_.Mmap(c.file, req.offset, req.length, req.prot, shared); ret < 0)
      return ret;
    const int source = host_.MapSource(c.file, req.offset, map_offset);
    if (source >= 0) {
      *fd = dup(source);
      if (*fd < 0) return -ENOMEM;
      *map_id = host_.Track(c.file, req.offset, req.length, req.prot, shared, nullptr,
                            /*programs_pages=*/false);
      return 0;
    }
    *fd = memfd_create("faultlab-flush-id", MFD_CLOEXEC);
    if (*fd < 0) return -ENOMEM;
    void* view = MAP_FAILED;
    if (ftruncate(*fd, static_cast<off_t>(req.length)) == 0) {
      view = mmap(nullptr, req.length, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    }
    if (view == MAP_FAILED) {
      close(*fd);
      *fd = -1;
      return -ENOMEM;
    }
    *map_offset = 0;
    *map_id = host_.Track(c.file, req.offset, req.length, req.prot, shared,
                          static_cast<char*>(view), /*programs_pages=*/false);
    return 0;
  }

  // The twin's kernel log as dmesg lines ("[    1.000000] panthor ...: ...").
  void WriteKmsg() {
    const faultlab::dev::Device& device = host_.device();
    const auto& log = device.kernel_log();
    if (kmsg_.empty() || logged_ >= log.size()) return;
    FILE* f = fopen(kmsg_.c_str(), "a");
    if (!f) return;
    for (; logged_ < log.size(); ++logged_) {
      const uint64_t us = device.now_ns() / 1000;
      const std::string& text = log[logged_];
      // drm_err(): the device prefix on the first line; dmesg repeats the
      // timestamp on the message's further lines.
      size_t start = 0;
      bool first = true;
      while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        fprintf(f, "[%5llu.%06llu] %s%s\n", static_cast<unsigned long long>(us / 1000000),
                static_cast<unsigned long long>(us % 1000000),
                first ? ("panthor " + device.profile().unique + ": [drm] *ERROR* ").c_str() : "",
                text.substr(start, end - start).c_str());
        first = false;
        start = end + 1;
      }
    }
    fclose(f);
  }

  // A fault's work as a board's kprobes (lib/collect/kprobes.h) print it, on
  // CLOCK_MONOTONIC as the agent's tracefs instance (trace_clock mono) has it:
  // the twin's virtual time runs in host time from the start.
  void WriteFaultWork(const faultlab::fault::FaultPath::Timing& t) {
    faultlab::collect::KprobeFault f;
    f.has_fields = true;
    f.work = 0xffff000010000190ULL + (t.vm_key << 12);  // &vm->fault.work: one per VM
    f.as = t.as;
    f.va = t.addr;
    f.status = t.status;
    // The live device's clock may lag host time (by up to a millisecond,
    // TwinHost::kMaxLagNs): the work ends no earlier than now, its
    // durations as the twin modelled them.
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
    const uint64_t shift = std::max(mono_base_ns_ + t.end_ns, now) - t.end_ns;
    f.irq_ns = shift + t.irq_ns;
    f.start_ns = shift + t.start_ns;
    f.end_ns = shift + t.end_ns;
    f.has_ret = true;
    f.ret = t.ret;
    f.unhandled = t.ret != 0;
    const std::string text = faultlab::collect::FormatFaultWork(f, 800 + t.as);
    fwrite(text.data(), 1, text.size(), kprobes_);
    fflush(kprobes_);
  }

  faultlab::twin::TwinHost host_;
  std::string kmsg_;
  FILE* kprobes_ = nullptr;
  uint64_t mono_base_ns_ = 0;  // CLOCK_MONOTONIC at the twin's virtual time 0 (at the start)
  bool no_series_;
  size_t logged_ = 0;  // kernel log lines written to kmsg_ (under the host's lock)
};

std::atomic<bool> stopping{false};

}  // namespace

int main(int argc, char** argv) {
  faultlab::args::Args args;
  for (const char* f : {"socket", "profile", "variant", "policy", "budget", "kmsg", "kprobes",
                        "job-timeout-ms", "fault-cost-permille"})
    args.Declare(f, true);
  args.Declare("help", false, 'h');
  args.Declare("no-series", false);
  args.Declare("any-user", false);
  if (absl::Status s = args.Parse(argc - 1, argv + 1);
      !s.ok() || args.Has("help") || !args.Has("socket")) {
    if (!s.ok()) fprintf(stderr, "faultlab-loopback: %s\n", std::string(s.message()).c_str());
    fputs(kUsage, args.Has("help") ? stdout : stderr);
    return args.Has("help") ? 0 : 2;
  }
  faultlab::replay::WhatIf settings;
  absl::Status parsed;
  for (const char* k : {"profile", "variant", "policy", "budget"}) {
    if (args.Has(k) && parsed.ok()) parsed = faultlab::replay::SetWhatIf(k, args.Get(k), &settings);
  }
  absl::StatusOr<faultlab::dev::DeviceConfig> cfg =
      parsed.ok() ? faultlab::replay::RecordingConfig("", settings, false) : parsed;
  if (!cfg.ok()) {
    fprintf(stderr, "faultlab-loopback: %s\n", std::string(cfg.status().message()).c_str());
    return 2;
  }
  if (args.Has("job-timeout-ms")) {
    uint64_t ms = 0;
    if (!absl::SimpleAtoi(args.Get("job-timeout-ms"), &ms) || ms < 1 || ms > 3'600'000) {
      fprintf(stderr,
              "faultlab-loopback: --job-timeout-ms %s: not a number of ms in [1, 3600000]\n",
              args.Get("job-timeout-ms").c_str());
      return 2;
    }
    cfg->profile.job_timeout_ns = ms * 1'000'000;
  }
  const std::string path = args.Get("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    fprintf(stderr, "faultlab-loopback: --socket %s: longer than %zu bytes\n", path.c_str(),
            sizeof(addr.sun_path) - 1);
    return 2;
  }
  memcpy(addr.sun_path, path.data(), path.size());
  const int listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  unlink(path.c_str());
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener, 64) != 0) {
    fprintf(stderr, "faultlab-loopback: --socket %s: %s\n", path.c_str(), strerror(errno));
    return 1;
  }
  // Every client maps the one content file (one copy of the bytes): any
  // other user's programs only when asked.
  chmod(path.c_str(), args.Has("any-user") ? 0666 : 0600);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = [](int) { stopping = true; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (args.Has("fault-cost-permille")) {
    uint64_t permille = 0;
    if (!absl::SimpleAtoi(args.Get("fault-cost-permille"), &permille) || permille < 1 ||
        permille > 100000) {
      fprintf(stderr, "faultlab-loopback: --fault-cost-permille %s: a number in [1, 100000]\n",
              args.Get("fault-cost-permille").c_str());
      return 2;
    }
    cfg->fault_cost_permille = static_cast<uint32_t>(permille);
  }
  Kernel kernel(*cfg, args.Get("kmsg"), args.Get("kprobes"), args.Has("no-series"));
  fprintf(stderr, "faultlab-loopback: %s (%s, %s) on %s\n", cfg->profile.id.c_str(),
          cfg->profile.name.c_str(),
          args.Has("no-series") ? "no alloc-on-fault series" : faultlab::VariantName(cfg->variant),
          path.c_str());
  while (!stopping) {
    const int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "faultlab-loopback: accept: %s\n", strerror(errno));
      break;
    }
    std::thread([&kernel, c] { kernel.Serve(c); }).detach();
  }
  unlink(path.c_str());
  return 0;
}
