// The loopback kernel's wire protocol (docs/board.md "Loopback backend"):
// the shim's passthrough mode talks to faultlab-loopback over a unix
// SOCK_SEQPACKET socket as a program talks to the kernel.
//
// A connection is one open file: its first message is kOpen (or kHello, to
// learn the device, then it closes). Every later message carries, as
// SCM_RIGHTS, one end of a socketpair the answer goes back on, so calls from
// several threads (a wait blocking in one) never wait for each other. The
// peer's user memory is read and written with process_vm_readv/writev on its
// pid (SO_PEERCRED), as copy_{from,to}_user; a mapping comes back as a
// descriptor and an offset to map it at (kMmap): for a BO, the twin's content
// file at the BO's bytes, so the program, the twin and every other mapping
// share one copy; for the LATEST_FLUSH_ID page, a memfd the twin keeps
// reading the register. A descriptor the device hands out (SYNCOBJ_HANDLE_TO_FD,
// PRIME_HANDLE_TO_FD) comes back with the ioctl's answer (Reply.map_id: the
// kernel's number for it, which the client writes in the argument's place
// of its own number and names in kExport calls); its close, mmap, lseek and
// ioctls travel as kExport. kText fetches a file the device makes as it is
// read (sysfs devfreq and power; "fdinfo" of the connection's file) as a
// memfd, on a connection of its own or an open file's.
#ifndef FAULTLAB_AGENTS_LOOPBACK_PROTOCOL_H_
#define FAULTLAB_AGENTS_LOOPBACK_PROTOCOL_H_

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace faultlab::loopback {

constexpr uint32_t kMagic = 0x464c4c42;  // "FLLB"

enum Op : uint32_t {
  kHello = 1,   // -> Reply.profile: the device's profile id
  kOpen = 2,    // node 0 primary, 1 render -> ret 0 or -errno
  kIoctl = 3,   // request, arg (a pointer in the caller) -> ret
  kMmap = 4,    // offset, length, flags, prot -> ret 0 + descriptor, map_offset, map id
  kMunmap = 5,  // map id -> ret
  kExport = 6,  // map_id: the descriptor; request: ExportOp -> ret (+ descriptor for kExportMmap)
  kText = 7,    // name -> ret 0 + a memfd of the text, or -ENOENT
};

enum ExportOp : uint32_t {
  kExportClose = 1,  // its last descriptor closed
  kExportMmap = 2,   // offset, length, flags, prot -> as kMmap
  kExportSeek = 3,   // offset, flags = whence -> ret
  kExportIoctl = 4,  // node = the ioctl request, arg -> ret
};

struct Request {
  uint32_t magic = kMagic;
  uint32_t op = 0;
  uint32_t node = 0;
  uint32_t request = 0;
  uint64_t arg = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  int32_t flags = 0;
  int32_t prot = 0;
  uint64_t map_id = 0;
  char name[48] = {};  // kText
};

struct Reply {
  int64_t ret = 0;
  uint64_t map_id = 0;
  uint64_t map_offset = 0;  // kMmap: where in the descriptor the mapping starts
  char profile[32] = {};
};

// One message with an optional descriptor. Returns bytes sent/received, or -errno.
inline ssize_t SendWithFd(int sock, const void* data, size_t n, int fd) {
  iovec iov{const_cast<void*>(data), n};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  for (;;) {
    const ssize_t r = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (r >= 0) return r;
    if (errno != EINTR) return -errno;
  }
}

inline ssize_t RecvWithFd(int sock, void* data, size_t n, int* fd) {
  iovec iov{data, n};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  if (fd) *fd = -1;
  for (;;) {
    const ssize_t r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int got;
        memcpy(&got, CMSG_DATA(c), sizeof(int));
        if (fd) {
          *fd = got;
        } else {
          close(got);
        }
      }
    }
    return r;
  }
}

}  // namespace faultlab::loopback

#endif  // FAULTLAB_AGENTS_LOOPBACK_PROTOCOL_H_
