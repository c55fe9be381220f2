#include "agents/twin/own_memory.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace faultlab::twin {
namespace {

// Set once process_vm_readv/writev answered ENOSYS: the pipe from then on.
std::atomic<bool> no_vm_calls{false};
constexpr size_t kChunk = 32 << 10;  // fits an empty pipe: write() never blocks

// A pipe of this thread's (a copy is two calls on it, never interleaved).
struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) == 0) r = fds[0], w = fds[1];
  }
  ~Pipe() {
    if (r >= 0) close(r), close(w);
  }
};

}  // namespace

// The pipe is left empty whatever happens.
bool internal::ThroughPipe(void* to, const void* from, size_t n) {
  thread_local Pipe p;
  if (p.r < 0) return false;
  for (size_t done = 0; done < n;) {
    const size_t len = n - done < kChunk ? n - done : kChunk;
    const ssize_t in = write(p.w, static_cast<const char*>(from) + done, len);
    if (in < 0 && errno == EINTR) continue;
    if (in <= 0) return false;
    ssize_t out;
    do {
      out = read(p.r, static_cast<char*>(to) + done, static_cast<size_t>(in));
    } while (out < 0 && errno == EINTR);
    if (out != in) {
      // Not writable there: empty the pipe for the next copy.
      char drain[4096];
      for (ssize_t left = in - (out > 0 ? out : 0); left > 0;) {
        const ssize_t d = read(p.r, drain, left < 4096 ? static_cast<size_t>(left) : 4096);
        if (d <= 0) break;
        left -= d;
      }
      return false;
    }
    done += static_cast<size_t>(in);
  }
  return true;
}

namespace {

// The calling thread's stack: [lo, top), found once per thread.
struct Stack {
  uintptr_t lo = 0, top = 0;
  Stack() {
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) != 0) return;
    void* base = nullptr;
    size_t size = 0;
    if (pthread_attr_getstack(&a, &base, &size) == 0) {
      lo = reinterpret_cast<uintptr_t>(base);
      top = lo + size;
    }
    pthread_attr_destroy(&a);
  }
};

// Whether [at, at + n) lies in this thread's stack between the caller's
// frame and the top: mapped and writable, as surely as the frame itself —
// where a program's ioctl arguments usually are, so most copies need no
// system call. (Not on a signal's alternate stack: the frame must be in
// the thread's own stack.)
bool OnOwnStack(uint64_t at, size_t n) {
  thread_local const Stack stack;
  const uintptr_t here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  return here >= stack.lo && here < stack.top && at >= here && at + n >= at && at + n <= stack.top;
}

// `local` to or from (`write`) the process's `remote`: in place on the
// stack, else by the vm call, else (where it is missing) through the pipe.
bool Copy(void* local, uint64_t remote, size_t n, bool write) {
  if (n == 0) return true;
  void* const at = reinterpret_cast<void*>(remote);
  void* const to = write ? at : local;
  const void* const from = write ? local : at;
  if (OnOwnStack(remote, n)) {
    memcpy(to, from, n);
    return true;
  }
  if (!no_vm_calls.load(std::memory_order_relaxed)) {
    iovec l{local, n}, r{at, n};
    const ssize_t got = write ? process_vm_writev(getpid(), &l, 1, &r, 1, 0)
                              : process_vm_readv(getpid(), &l, 1, &r, 1, 0);
    if (got == static_cast<ssize_t>(n)) return true;
    if (got >= 0 || errno != ENOSYS) return false;
    no_vm_calls.store(true, std::memory_order_relaxed);
  }
  return internal::ThroughPipe(to, from, n);
}

}  // namespace

bool ReadOwn(void* dst, uint64_t src, size_t n) { return Copy(dst, src, n, false); }

bool WriteOwn(uint64_t dst, const void* src, size_t n) {
  return Copy(const_cast<void*>(src), dst, n, true);
}

}  // namespace faultlab::twin
