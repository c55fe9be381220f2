// Capture cost per recorded ioctl (./lab bench; issue "board capture"): the
// same ioctl-heavy loop run three times as a child process —
//   bare:         ioctl() straight to the kernel;
//   passthrough:  under libfaultlab_shim.so in passthrough mode with a
//                 stand-in node (FAULTLAB_DEVICE=/dev/null): every call is a
//                 real syscall and is recorded in full (argument and the ops
//                 array it points at copied, encoded, chunked, compressed and
//                 written to FAULTLAB_TRACE);
//   strace:       under `strace -f -e trace=ioctl -o FILE`, the usual tool;
// and the time each adds per call over the bare loop, side by side.
//
//   capture_benchmark [--calls N]      (also ignores Google Benchmark's flags)
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/uapi/panthor.h"

namespace {

using namespace faultlab::uapi;  // NOLINT

int64_t Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The child: `calls` VM_BIND-shaped ioctls (one map op) on `node`; prints ns.
int Child(const char* node, long calls) {
  const int fd = open(node, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    perror(node);
    return 1;
  }
  PanthorVmBindOp op{};
  op.flags = kPanthorVmBindOpTypeMap;
  op.bo_handle = 1;
  op.va = 0x100000000ULL;
  op.size = 0x10000;
  PanthorVmBind b{};
  b.vm_id = 1;
  b.ops = PanthorObjArray{sizeof(op), 1, reinterpret_cast<uint64_t>(&op)};
  const int64_t t0 = Now();
  for (long i = 0; i < calls; ++i) {
    op.va = 0x100000000ULL + static_cast<uint64_t>(i) * 0x10000;
    ioctl(fd, kPanthorIoctlVmBind, &b);  // /dev/null: ENOTTY, after a real syscall
  }
  const int64_t t1 = Now();
  close(fd);
  printf("%lld\n", static_cast<long long>(t1 - t0));
  return 0;
}

// Runs argv with extra environment; returns the child's printed ns or -1.
int64_t Run(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    for (const std::string& e : env) putenv(strdup(e.c_str()));
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(strdup(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) out.append(buf, n);
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || out.empty()) return -1;
  return std::atoll(out.c_str());
}

int64_t Best(int rounds, const std::vector<std::string>& argv,
             const std::vector<std::string>& env) {
  int64_t best = -1;
  for (int i = 0; i < rounds; ++i) {
    const int64_t t = Run(argv, env);
    if (t < 0) return -1;
    if (best < 0 || t < best) best = t;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 4 && strcmp(argv[1], "--child") == 0) return Child(argv[2], std::atol(argv[3]));
  long calls = 200000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (strcmp(argv[i], "--calls") == 0) calls = std::atol(argv[i + 1]);
  }
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len <= 0) return 1;
  self[len] = '\0';
  std::string dir(self);
  dir = dir.substr(0, dir.rfind('/'));
  const std::string shim = dir + "/libfaultlab_shim.so";
  char tmpl[] = "/tmp/faultlab-capture-bench.XXXXXX";
  const std::string tmp = mkdtemp(tmpl) ? tmpl : "/tmp";
  const std::string trace = tmp + "/passthrough.fltrace", strace_out = tmp + "/strace.txt";
  const std::vector<std::string> child = {self, "--child", "/dev/null", std::to_string(calls)};

  const int64_t bare = Best(5, child, {});
  const int64_t pt = Best(5, child,
                          {"LD_PRELOAD=" + shim, "FAULTLAB_SHIM=passthrough",
                           "FAULTLAB_DEVICE=/dev/null", "FAULTLAB_TRACE=" + trace});
  std::vector<std::string> st = {"strace", "-f", "-e", "trace=ioctl", "-o", strace_out};
  st.insert(st.end(), child.begin(), child.end());
  const int64_t strace = Best(1, st, {});
  struct stat sb {};
  stat(trace.c_str(), &sb);

  printf(
      "capture cost per ioctl: %ld VM_BIND-shaped calls (1 op) on a stand-in node (/dev/null, "
      "ENOTTY)\n",
      calls);
  printf("%-46s %10s %12s\n", "", "ns/call", "added ns");
  auto row = [&](const char* name, int64_t t) {
    if (t < 0) {
      printf("%-46s %10s\n", name, "(did not run)");
      return;
    }
    printf("%-46s %10.1f %12.1f\n", name, double(t) / calls, double(t - bare) / calls);
  };
  row("bare ioctl()", bare);
  row("shim passthrough, recorded to a trace", pt);
  row("strace -f -e trace=ioctl -o FILE", strace);
  printf("trace: %.2f bytes per recorded ioctl (%lld bytes)\n", double(sb.st_size) / calls,
         static_cast<long long>(sb.st_size));
  if (pt > bare && strace > bare) {
    printf("passthrough capture adds %.0fx less time per ioctl than strace (aim: >= 100x)\n",
           double(strace - bare) / double(pt - bare));
  } else if (strace < 0) {
    printf("strace is not installed: no comparison\n");
  }
  unlink(trace.c_str());
  unlink(strace_out.c_str());
  rmdir(tmp.c_str());
  return pt < 0 ? 1 : 0;
}
