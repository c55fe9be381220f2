// The libc entry points the shim interposes (LD_PRELOAD): each asks the
// process's Shim (shim.h) whether its path or descriptor is the device's and
// hands the call to the emulator, the passthrough capture or the fake file
// system; anything else goes to the real function.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "agents/shim/real.h"
#include "agents/shim/shim.h"

using faultlab::shim::Emulator;
using faultlab::shim::FakeDir;
using faultlab::shim::FakeFs;
using faultlab::shim::Passthrough;
using faultlab::shim::Shim;

namespace {

Emulator* Emulated(int fd, faultlab::dev::NodeType* node = nullptr) {
  Emulator* em = Shim::Get().emulator();
  return em && em->Owns(fd, node) ? em : nullptr;
}

// A device file, or a descriptor the device handed out (a syncobj fd, a
// sync_file, a dma-buf).
Emulator* EmulatedOrExported(int fd) {
  Emulator* em = Shim::Get().emulator();
  return em && (em->Owns(fd) || em->OwnsExport(fd)) ? em : nullptr;
}

// A descriptor the loopback kernel handed out (passthrough).
Passthrough* LoopbackExport(int fd) {
  Passthrough* pt = Shim::Get().passthrough();
  return pt && pt->OwnsExport(fd) ? pt : nullptr;
}

Passthrough* PassedThrough(int fd, uint32_t* file = nullptr) {
  Passthrough* pt = Shim::Get().passthrough();
  const uint32_t f = pt ? pt->FileOf(fd) : 0;
  if (file) *file = f;
  return f ? pt : nullptr;
}

// Descriptors 0..: the node they are (0 card, 1 render) if the device's and
// they look like it (the twin's, or the loopback kernel's sockets).
bool StatOurs(int fd, struct stat* st) {
  faultlab::dev::NodeType type;
  if (Emulated(fd, &type)) {
    FakeFs::StatNode(type == faultlab::dev::NodeType::kPrimary ? 0 : 1, st);
    return true;
  }
  uint32_t file = 0;
  Passthrough* pt = PassedThrough(fd, &file);
  if (pt && pt->backend().kind() ==
                faultlab::shim::Backend::Kind::kLoopback) {  // a socket posing as the node
    FakeFs::StatNode(pt->NodeOf(file), st);
    return true;
  }
  return false;
}

bool StatPath(const char* path, struct stat* st, bool follow) {
  const FakeFs* fs = Shim::Get().fake_fs();
  return fs && fs->Stat(path, st, follow);
}

std::set<void*>& FakeDirs() {
  static auto* s = new std::set<void*>();
  return *s;
}

int OpenDevice(const char* path, int flags, mode_t mode, bool* handled) {
  *handled = true;
  Shim& shim = Shim::Get();
  int node = 0;
  if (Passthrough* pt = shim.passthrough(); pt && pt->Claims(path, &node))
    return pt->Open(path, node, flags, mode);
  if (Emulator* em = shim.emulator(); em && (node = FakeFs::NodeOfPath(path)) >= 0)
    return em->Open(node, flags);
  if (path && absl::StartsWith(path, "/dev/dri/") && shim.fake_fs())
    return faultlab::shim::Errno(ENOENT);
  // A file of ours (sysfs, fdinfo): its text as it is now, in a memfd the
  // program reads as it would the kernel's file.
  std::string text;
  if (const FakeFs* fs = shim.fake_fs(); fs && path && fs->Text(path, &text)) {
    if ((flags & O_ACCMODE) != O_RDONLY) return faultlab::shim::Errno(EACCES);
    const int fd = memfd_create("faultlab-sysfs", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
    if (fd < 0) return -1;
    if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        lseek(fd, 0, SEEK_SET) != 0) {
      const int err = errno;
      REAL(close);
      real_close(fd);
      return faultlab::shim::Errno(err);
    }
    return fd;
  }
  *handled = false;
  return -1;
}

FILE* FakeFopen(const char* path) {
  const FakeFs* fs = Shim::Get().fake_fs();
  std::string content;
  if (!fs || !path || !fs->Text(path, &content)) return nullptr;
  char* buf = strdup(content.c_str());  // lives as long as the stream may (a few KiB)
  return fmemopen(buf, content.size(), "r");
}

// readlink() of a link of ours (-2: not ours).
ssize_t FakeReadlink(const char* path, char* buf, size_t size) {
  const FakeFs* fs = Shim::Get().fake_fs();
  if (!path || !fs) return -2;
  std::string target;
  int fd = -1;
  if (absl::StartsWith(path, "/proc/self/fd/") && absl::SimpleAtoi(path + 14, &fd)) {
    faultlab::dev::NodeType type;
    if (Emulated(fd, &type))
      target = type == faultlab::dev::NodeType::kPrimary ? faultlab::shim::kCardPath
                                                         : faultlab::shim::kRenderPath;
    uint32_t file = 0;
    if (Passthrough* pt = PassedThrough(fd, &file)) {
      target = pt->NodeOf(file) == 0 ? faultlab::shim::kCardPath : faultlab::shim::kRenderPath;
    }
  } else {
    target = fs->LinkTarget(path);
  }
  if (target.empty()) return -2;
  const size_t n = std::min(size, target.size());
  memcpy(buf, target.data(), n);
  return static_cast<ssize_t>(n);
}

}  // namespace

extern "C" {

#define OPEN_BODY(REALNAME, ...)                                 \
  mode_t mode = 0;                                               \
  if (flags & (O_CREAT | O_TMPFILE)) {                           \
    va_list ap;                                                  \
    va_start(ap, flags);                                         \
    mode = va_arg(ap, mode_t);                                   \
    va_end(ap);                                                  \
  }                                                              \
  bool handled;                                                  \
  const int device_fd = OpenDevice(path, flags, mode, &handled); \
  if (handled) return device_fd;                                 \
  REAL(REALNAME);                                                \
  return real_##REALNAME(__VA_ARGS__, mode);

int open(const char* path, int flags, ...) { OPEN_BODY(open, path, flags) }
int open64(const char* path, int flags, ...) { OPEN_BODY(open64, path, flags) }
int openat(int dirfd, const char* path, int flags, ...) { OPEN_BODY(openat, dirfd, path, flags) }
int openat64(int dirfd, const char* path, int flags, ...) {
  OPEN_BODY(openat64, dirfd, path, flags)
}

int __open_2(const char* path, int flags) { return open(path, flags); }
int __open64_2(const char* path, int flags) { return open64(path, flags); }
int __openat_2(int dirfd, const char* path, int flags) { return openat(dirfd, path, flags); }
int __openat64_2(int dirfd, const char* path, int flags) { return openat64(dirfd, path, flags); }

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
  if (Emulator* em = EmulatedOrExported(fd)) em->Forget(fd);
  if (Passthrough* pt = LoopbackExport(fd)) pt->backend_for_exports().CloseExport(fd);
  if (Passthrough* pt = PassedThrough(fd)) pt->Forget(fd);
  REAL(close);
  return real_close(fd);
}

// After a dup of `fd` to `to` (-1: failed): `to` is the same file.
static void Duplicated(int fd, int to) {
  if (to < 0 || fd == to) return;
  if (Emulator* em = EmulatedOrExported(fd)) em->Alias(fd, to);
  if (Passthrough* pt = PassedThrough(fd)) pt->Alias(fd, to);
}
// Before a dup onto `to`: whatever `to` was is closed.
static void Replacing(int fd, int to) {
  if (fd == to) return;
  if (Emulator* em = EmulatedOrExported(to)) em->Forget(to);
  if (Passthrough* pt = PassedThrough(to)) pt->Forget(to);
}

int dup(int fd) {
  REAL(dup);
  const int r = real_dup(fd);
  Duplicated(fd, r);
  return r;
}
int dup2(int fd, int to) {
  REAL(dup2);
  Replacing(fd, to);
  const int r = real_dup2(fd, to);
  Duplicated(fd, r);
  return r;
}
int dup3(int fd, int to, int flags) {
  REAL(dup3);
  Replacing(fd, to);
  const int r = real_dup3(fd, to, flags);
  Duplicated(fd, r);
  return r;
}
int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const long arg = va_arg(ap, long);
  va_end(ap);
  REAL(fcntl);
  const int r = real_fcntl(fd, cmd, arg);
  if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) Duplicated(fd, r);
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
  uint32_t file = 0;
  if (Passthrough* pt = PassedThrough(fd, &file)) {
    const int ret = pt->Ioctl(fd, file, request, arg);
    return ret < 0 ? faultlab::shim::Errno(-ret) : ret;
  }
  if (Passthrough* pt = LoopbackExport(fd)) {
    const int ret = pt->backend_for_exports().ExportIoctl(fd, request, arg);
    return ret < 0 ? faultlab::shim::Errno(-ret) : ret;
  }
  if (Emulator* em = EmulatedOrExported(fd)) {
    const int ret = em->Ioctl(fd, request, arg);
    return ret < 0 ? faultlab::shim::Errno(-ret) : ret;
  }
  REAL(ioctl);
  return real_ioctl(fd, request, arg);
}

void* mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  uint32_t file = 0;
  if (Passthrough* pt = PassedThrough(fd, &file))
    return pt->Mmap(addr, length, prot, flags, fd, file, offset);
  if (Passthrough* pt = LoopbackExport(fd)) {
    int result = 0;
    return pt->backend_for_exports().ExportMmap(addr, length, prot, flags, fd, offset, &result);
  }
  if (Emulator* em = EmulatedOrExported(fd)) return em->Mmap(addr, length, prot, flags, fd, offset);
  REAL(mmap);
  return real_mmap(addr, length, prot, flags, fd, offset);
}
void* mmap64(void* addr, size_t length, int prot, int flags, int fd, off64_t offset) {
  return mmap(addr, length, prot, flags, fd, static_cast<off_t>(offset));
}
off_t lseek(int fd, off_t offset, int whence) {
  Emulator* em = Shim::Get().emulator();
  if (em && em->OwnsExport(fd)) {
    const int64_t r = em->Seek(fd, offset, whence);
    return r < 0 ? faultlab::shim::Errno(static_cast<int>(-r)) : static_cast<off_t>(r);
  }
  if (Passthrough* pt = LoopbackExport(fd)) {
    const int64_t r = pt->backend_for_exports().ExportSeek(fd, offset, whence);
    return r < 0 ? faultlab::shim::Errno(static_cast<int>(-r)) : static_cast<off_t>(r);
  }
  REAL(lseek);
  return real_lseek(fd, offset, whence);
}
off64_t lseek64(int fd, off64_t offset, int whence) {
  return static_cast<off64_t>(lseek(fd, static_cast<off_t>(offset), whence));
}

int munmap(void* addr, size_t length) {
  Shim& s = Shim::Get();
  if (Passthrough* pt = s.passthrough()) pt->Unmapped(addr);
  if (Emulator* em = s.emulator()) em->Unmapping(addr);
  REAL(munmap);
  return real_munmap(addr, length);
}

int stat(const char* path, struct stat* st) {
  if (StatPath(path, st, true)) return 0;
  REAL(stat);
  return real_stat(path, st);
}
int stat64(const char* path, struct stat64* st) {
  if (StatPath(path, reinterpret_cast<struct stat*>(st), true)) return 0;
  REAL(stat64);
  return real_stat64(path, st);
}
int lstat(const char* path, struct stat* st) {
  if (StatPath(path, st, false)) return 0;
  REAL(lstat);
  return real_lstat(path, st);
}
int lstat64(const char* path, struct stat64* st) {
  if (StatPath(path, reinterpret_cast<struct stat*>(st), false)) return 0;
  REAL(lstat64);
  return real_lstat64(path, st);
}
int fstat(int fd, struct stat* st) {
  if (StatOurs(fd, st)) return 0;
  REAL(fstat);
  return real_fstat(fd, st);
}
int fstat64(int fd, struct stat64* st) {
  if (StatOurs(fd, reinterpret_cast<struct stat*>(st))) return 0;
  REAL(fstat64);
  return real_fstat64(fd, st);
}
int fstatat(int dirfd, const char* path, struct stat* st, int flags) {
  if (path && path[0] == '\0' && (flags & AT_EMPTY_PATH) && StatOurs(dirfd, st)) return 0;
  if (path && path[0] == '/' && StatPath(path, st, !(flags & AT_SYMLINK_NOFOLLOW))) return 0;
  REAL(fstatat);
  return real_fstatat(dirfd, path, st, flags);
}
int fstatat64(int dirfd, const char* path, struct stat64* st, int flags) {
  return fstatat(dirfd, path, reinterpret_cast<struct stat*>(st), flags);
}

int statx(int dirfd, const char* path, int flags, unsigned int mask, struct statx* sx) {
  struct stat st;
  bool ours = false;
  if (path && path[0] == '\0' && (flags & AT_EMPTY_PATH)) {
    ours = StatOurs(dirfd, &st);
  } else if (path && path[0] == '/') {
    ours = StatPath(path, &st, !(flags & AT_SYMLINK_NOFOLLOW));
  }
  if (ours) {
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
  if (StatPath(path, st, true)) return 0;
  REAL(__xstat);
  return real___xstat(ver, path, st);
}
int __lxstat(int ver, const char* path, struct stat* st) {
  if (StatPath(path, st, false)) return 0;
  REAL(__lxstat);
  return real___lxstat(ver, path, st);
}
int __fxstat(int ver, int fd, struct stat* st) {
  if (StatOurs(fd, st)) return 0;
  REAL(__fxstat);
  return real___fxstat(ver, fd, st);
}
int __xstat64(int ver, const char* path, struct stat64* st) {
  if (StatPath(path, reinterpret_cast<struct stat*>(st), true)) return 0;
  REAL(__xstat64);
  return real___xstat64(ver, path, st);
}
int __lxstat64(int ver, const char* path, struct stat64* st) {
  if (StatPath(path, reinterpret_cast<struct stat*>(st), false)) return 0;
  REAL(__lxstat64);
  return real___lxstat64(ver, path, st);
}
int __fxstat64(int ver, int fd, struct stat64* st) {
  if (StatOurs(fd, reinterpret_cast<struct stat*>(st))) return 0;
  REAL(__fxstat64);
  return real___fxstat64(ver, fd, st);
}

int access(const char* path, int mode) {
  const FakeFs* fs = Shim::Get().fake_fs();
  if (fs && path && fs->Lookup(path) != FakeFs::Kind::kNone) return 0;
  REAL(access);
  return real_access(path, mode);
}

ssize_t readlink(const char* path, char* buf, size_t size) {
  const ssize_t r = FakeReadlink(path, buf, size);
  if (r != -2) return r;
  REAL(readlink);
  return real_readlink(path, buf, size);
}

char* realpath(const char* path, char* resolved) {
  const FakeFs* fs = Shim::Get().fake_fs();
  const std::string out = fs && path ? fs->RealPath(path) : "";
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
  const FakeFs* fs = Shim::Get().fake_fs();
  if (fs && path && fs->Lookup(path) == FakeFs::Kind::kDir) {
    auto* d = new FakeDir();
    d->names = fs->List(path);
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
