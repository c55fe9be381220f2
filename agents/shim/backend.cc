#include "agents/shim/backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/match.h"
#include "agents/loopback/protocol.h"
#include "agents/shim/real.h"
#include "agents/twin/own_memory.h"
#include "engine/uapi/drm.h"
#include "engine/uapi/ioctls.h"

namespace faultlab::shim {

namespace {

// One loopback call: the answer comes back on a socketpair of its own. 0 or -errno.
// Four bytes of this process's memory at `at`, read into or written from
// `*v` as copy_{from,to}_user would: false where unmapped.
bool CopyOwn(int32_t* v, uint64_t at, bool write) {
  return write ? twin::WriteOwn(at, v, sizeof(*v)) : twin::ReadOwn(v, at, sizeof(*v));
}

int LoopbackCall(int fd, const loopback::Request& q, loopback::Reply* r, int* memfd) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return -errno;
  const ssize_t sent = loopback::SendWithFd(fd, &q, sizeof(q), pair[1]);
  close(pair[1]);
  ssize_t got = -ENODEV;
  if (sent == sizeof(q)) got = loopback::RecvWithFd(pair[0], r, sizeof(*r), memfd);
  close(pair[0]);
  return got == sizeof(*r) ? 0 : -ENODEV;  // the kernel went away: as an unplugged device
}

}  // namespace

Backend::Backend(Kind kind, std::string where) : kind_(kind), where_(std::move(where)) {
  if (kind == Kind::kReal) FindRealDevice();
}

std::string Backend::Describe() const {
  switch (kind_) {
    case Kind::kLoopback:
      return "unix:" + where_;
    case Kind::kStandIn:
      return "stand-in:" + where_;
    case Kind::kReal:
      return panthor_nodes_.empty() ? "" : *panthor_nodes_.rbegin();
  }
  return "";
}

bool Backend::Claims(const char* path, int* node) const {
  if (!path || !usable_) return false;
  switch (kind_) {
    case Kind::kStandIn:
      *node = 1;
      return where_ == path;
    case Kind::kLoopback:
      if (strcmp(path, "/dev/dri/card0") == 0) return *node = 0, true;
      if (strcmp(path, "/dev/dri/renderD128") == 0) return *node = 1, true;
      return false;
    case Kind::kReal:
      if (!panthor_nodes_.count(path)) return false;
      *node = absl::StartsWith(path, "/dev/dri/card") ? 0 : 1;
      return true;
  }
  return false;
}

// /dev/dri's nodes that say "panthor" to DRM_IOCTL_VERSION; none: say so.
void Backend::FindRealDevice() {
  REAL(opendir);
  REAL(readdir);
  REAL(closedir);
  REAL(open);
  REAL(close);
  REAL(ioctl);
  std::vector<std::string> nodes;
  if (DIR* d = real_opendir("/dev/dri")) {
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
    uapi::DrmVersion v{};
    v.name_len = sizeof(name) - 1;
    v.name = reinterpret_cast<uint64_t>(name);
    if (real_ioctl(fd, uapi::kDrmIoctlVersion, &v) == 0 && strcmp(name, "panthor") == 0)
      panthor_nodes_.insert(n);
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

int Backend::Open(const char* path, int node, int flags, mode_t mode) {
  REAL(open);
  if (kind_ != Kind::kLoopback) return real_open(path, flags, mode);
  const int fd = LoopbackOpen(node, flags & O_CLOEXEC);
  return fd < 0 ? Errno(-fd) : fd;
}

int Backend::OpenForProbe() {
  REAL(open);
  if (kind_ == Kind::kLoopback) return LoopbackOpen(1, O_CLOEXEC);
  if (kind_ == Kind::kReal && !panthor_nodes_.empty()) {
    return real_open(panthor_nodes_.rbegin()->c_str(), O_RDWR | O_CLOEXEC);
  }
  return -1;
}

int Backend::Ioctl(int fd, unsigned long request, void* arg) {
  if (kind_ == Kind::kLoopback) {
    loopback::Request r;
    r.op = loopback::kIoctl;
    r.request = static_cast<uint32_t>(request);
    r.arg = reinterpret_cast<uint64_t>(arg);
    const uapi::IoctlDesc* d = uapi::FindIoctl(r.request);
    const uapi::IoctlId id = d ? d->id : uapi::IoctlId::kCount;
    // drm_syncobj_handle's and drm_prime_handle's fd: at 8 (read and written
    // as the kernel would: a bad pointer is the kernel's -EFAULT, not ours).
    const uint64_t fd_field = r.arg + 8;
    int32_t ours = -1;
    if (id == uapi::IoctlId::kSyncobjFdToHandle || id == uapi::IoctlId::kPrimeFdToHandle) {
      // The kernel knows its own number for a descriptor it handed out.
      std::lock_guard<std::mutex> lock(mu_);
      int32_t named = -1;
      auto it = CopyOwn(&named, fd_field, false) ? exports_.find(named) : exports_.end();
      if (it != exports_.end() && CopyOwn(&it->second.first, fd_field, true)) ours = named;
    }
    loopback::Reply reply;
    int passed = -1;
    const int e = LoopbackCall(fd, r, &reply, &passed);
    if (ours >= 0) CopyOwn(&ours, fd_field, true);
    if (passed >= 0) {
      // A descriptor handed out: the program sees ours, in the kernel's place.
      std::lock_guard<std::mutex> lock(mu_);
      exports_[passed] = {static_cast<int32_t>(reply.map_id), fd};
      CopyOwn(&passed, fd_field, true);
    }
    return e ? e : static_cast<int>(reply.ret);
  }
  REAL(ioctl);
  const int ret = real_ioctl(fd, request, arg);
  return ret < 0 ? -errno : ret;
}

bool Backend::OwnsExport(int fd) {
  if (kind_ != Kind::kLoopback) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return exports_.count(fd) != 0;
}

namespace {

// A call about a loopback descriptor on the connection it came on.
int ExportCall(std::pair<int32_t, int> where, uint32_t op, loopback::Request r,
               loopback::Reply* reply, int* memfd = nullptr) {
  r.op = loopback::kExport;
  r.request = op;
  r.map_id = static_cast<uint64_t>(where.first);
  const int e = LoopbackCall(where.second, r, reply, memfd);
  return e ? e : 0;
}

}  // namespace

void Backend::CloseExport(int fd) {
  std::pair<int32_t, int> where;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = exports_.find(fd);
    if (it == exports_.end()) return;
    where = it->second;
    exports_.erase(it);
  }
  loopback::Reply reply;
  ExportCall(where, loopback::kExportClose, {}, &reply);
}

void* Backend::ExportMmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset,
                          int* result) {
  std::pair<int32_t, int> where;
  {
    std::lock_guard<std::mutex> lock(mu_);
    where = exports_.at(fd);
  }
  loopback::Request r;
  r.op = loopback::kExport;
  r.request = loopback::kExportMmap;
  r.map_id = static_cast<uint64_t>(where.first);
  return LoopbackMap(where.second, r, addr, length, prot, flags, offset, result);
}

int64_t Backend::ExportSeek(int fd, int64_t offset, int whence) {
  std::pair<int32_t, int> where;
  {
    std::lock_guard<std::mutex> lock(mu_);
    where = exports_.at(fd);
  }
  loopback::Request r;
  r.offset = static_cast<uint64_t>(offset);
  r.flags = whence;
  loopback::Reply reply;
  const int e = ExportCall(where, loopback::kExportSeek, r, &reply);
  return e ? e : reply.ret;
}

int Backend::ExportIoctl(int fd, unsigned long request, void* arg) {
  std::pair<int32_t, int> where;
  {
    std::lock_guard<std::mutex> lock(mu_);
    where = exports_.at(fd);
  }
  loopback::Request r;
  r.node = static_cast<uint32_t>(request);
  r.arg = reinterpret_cast<uint64_t>(arg);
  loopback::Reply reply;
  const int e = ExportCall(where, loopback::kExportIoctl, r, &reply);
  return e ? e : static_cast<int>(reply.ret);
}

bool Backend::Text(const std::string& name, int fd, std::string* out) {
  if (kind_ != Kind::kLoopback || name.size() >= sizeof(loopback::Request::name)) return false;
  loopback::Request r;
  r.op = loopback::kText;
  memcpy(r.name, name.data(), name.size());
  loopback::Reply reply;
  int memfd = -1;
  int e;
  if (fd >= 0) {
    e = LoopbackCall(fd, r, &reply, &memfd);
  } else {  // a connection of its own, as kHello
    const int sock = Connect();
    if (sock < 0) return false;
    e = loopback::SendWithFd(sock, &r, sizeof(r), -1) == sizeof(r) &&
                loopback::RecvWithFd(sock, &reply, sizeof(reply), &memfd) == sizeof(reply)
            ? 0
            : -ENODEV;
    close(sock);
  }
  if (e != 0 || reply.ret != 0 || memfd < 0) {
    if (memfd >= 0) close(memfd);
    return false;
  }
  out->clear();
  char buf[4096];
  for (ssize_t n; (n = pread(memfd, buf, sizeof(buf), static_cast<off_t>(out->size()))) > 0;)
    out->append(buf, static_cast<size_t>(n));
  close(memfd);
  return true;
}

void* Backend::Mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset,
                    int* result) {
  REAL(mmap);
  *result = 0;
  if (kind_ != Kind::kLoopback) {
    void* p = real_mmap(addr, length, prot, flags, fd, offset);
    if (p == MAP_FAILED) *result = -errno;
    return p;
  }
  // The loopback kernel says yes or no; the pages come back as a descriptor
  // (the twin's content file, or a memfd for the LATEST_FLUSH_ID page) and
  // where to map it.
  loopback::Request r;
  r.op = loopback::kMmap;
  return LoopbackMap(fd, r, addr, length, prot, flags, offset, result);
}

void* Backend::LoopbackMap(int conn, loopback::Request r, void* addr, size_t length, int prot,
                           int flags, off_t offset, int* result) {
  REAL(mmap);
  r.offset = static_cast<uint64_t>(offset);
  r.length = length;
  r.flags = flags;
  r.prot = prot;
  loopback::Reply reply;
  int memfd = -1;
  *result = LoopbackCall(conn, r, &reply, &memfd);
  if (*result == 0) *result = static_cast<int>(reply.ret);
  void* p = MAP_FAILED;
  if (*result == 0 && memfd >= 0) {
    p = real_mmap(addr, length, prot, flags, memfd, static_cast<off_t>(reply.map_offset));
    if (p == MAP_FAILED) *result = -errno;
  }
  if (memfd >= 0) close(memfd);
  if (p == MAP_FAILED) {
    errno = -*result;
    return p;
  }
  std::lock_guard<std::mutex> lock(mu_);
  map_ids_[reinterpret_cast<uintptr_t>(p)] = {conn, reply.map_id};
  return p;
}

void Backend::Unmapped(void* addr) {
  if (kind_ != Kind::kLoopback) return;
  std::pair<int, uint64_t> id{-1, 0};
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_ids_.find(reinterpret_cast<uintptr_t>(addr));
    if (it == map_ids_.end()) return;
    id = it->second;
    map_ids_.erase(it);
  }
  loopback::Request r;
  r.op = loopback::kMunmap;
  r.map_id = id.second;
  loopback::Reply reply;
  LoopbackCall(id.first, r, &reply, nullptr);
}

std::string Backend::LoopbackProfile() {
  if (kind_ != Kind::kLoopback) return "";
  const int s = Connect();
  if (s < 0) return "";
  loopback::Request q;
  q.op = loopback::kHello;
  loopback::Reply r;
  const bool ok =
      send(s, &q, sizeof(q), MSG_NOSIGNAL) == sizeof(q) && recv(s, &r, sizeof(r), 0) == sizeof(r);
  close(s);
  return ok ? std::string(r.profile, strnlen(r.profile, sizeof(r.profile))) : "";
}

int Backend::Connect() {
  const int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", where_.c_str());
  if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    close(s);
    if (!warned_connect_.exchange(true)) {
      fprintf(stderr,
              "faultlab-shim: FAULTLAB_BACKEND=unix:%s: %s (is faultlab-loopback running?)\n",
              where_.c_str(), strerror(e));
    }
    return -ENODEV;
  }
  return s;
}

int Backend::LoopbackOpen(int node, int cloexec) {
  const int s = Connect();
  if (s < 0) return s;
  if (!cloexec) fcntl(s, F_SETFD, 0);
  loopback::Request q;
  q.op = loopback::kOpen;
  q.node = static_cast<uint32_t>(node);
  loopback::Reply r;
  if (send(s, &q, sizeof(q), MSG_NOSIGNAL) != sizeof(q) || recv(s, &r, sizeof(r), 0) != sizeof(r) ||
      r.ret < 0) {
    close(s);
    return r.ret < 0 ? static_cast<int>(r.ret) : -ENODEV;
  }
  return s;
}

}  // namespace faultlab::shim
