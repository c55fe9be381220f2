// ioctl round trips through libfaultlab_shim.so (./lab bench): the binary
// re-executes itself with LD_PRELOAD set to the shim built beside it, opens
// /dev/dri/renderD128 (the twin) and times DEV_QUERY, BO_CREATE + GEM_CLOSE
// and a VM_BIND map + unmap pair, each a real ioctl() call from this process
// — twice in one run: with the live device (the default) and with the GPU
// in virtual time (FAULTLAB_LIVE=0), so that the table says what the live
// device costs a call.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/uapi/drm.h"
#include "engine/uapi/panthor.h"

namespace {

using namespace faultlab::uapi;  // NOLINT

int Node() {
  static int fd = open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC);
  return fd;
}

void BM_ShimDevQuery(benchmark::State& state) {
  PanthorGpuInfo gi{};
  PanthorDevQuery q{kPanthorDevQueryGpuInfo, sizeof(gi), reinterpret_cast<uint64_t>(&gi)};
  for (auto _ : state) {
    if (ioctl(Node(), kPanthorIoctlDevQuery, &q) != 0) state.SkipWithError("DEV_QUERY failed");
  }
}
BENCHMARK(BM_ShimDevQuery);

// DEV_QUERY through the shim against a bare ioctl() syscall on a stand-in
// node (/dev/null: ENOTTY, the kernel's cheapest answer), interleaved in
// blocks of 1000 so that both see the same machine: shim_ns, bare_ns and
// shim_over_bare (the aim: <= 1.5).
void BM_DevQueryVsBareIoctl(benchmark::State& state) {
  PanthorGpuInfo gi{};
  PanthorDevQuery q{kPanthorDevQueryGpuInfo, sizeof(gi), reinterpret_cast<uint64_t>(&gi)};
  static const int stand_in = open("/dev/null", O_RDWR | O_CLOEXEC);
  using Clock = std::chrono::steady_clock;
  Clock::duration shim{}, bare{};
  uint64_t calls = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    for (int i = 0; i < 1000; ++i) ioctl(Node(), kPanthorIoctlDevQuery, &q);
    const auto t1 = Clock::now();
    for (int i = 0; i < 1000; ++i) syscall(SYS_ioctl, stand_in, kPanthorIoctlDevQuery, &q);
    const auto t2 = Clock::now();
    shim += t1 - t0;
    bare += t2 - t1;
    calls += 1000;
  }
  const double s = std::chrono::duration<double, std::nano>(shim).count() / calls;
  const double b = std::chrono::duration<double, std::nano>(bare).count() / calls;
  state.counters["shim_ns"] = s;
  state.counters["bare_ns"] = b;
  state.counters["shim_over_bare"] = s / b;
}
BENCHMARK(BM_DevQueryVsBareIoctl);

void BM_ShimBoCreateClose(benchmark::State& state) {
  for (auto _ : state) {
    PanthorBoCreate c{};
    c.size = 65536;
    DrmGemClose g{};
    if (ioctl(Node(), kPanthorIoctlBoCreate, &c) != 0) state.SkipWithError("BO_CREATE failed");
    g.handle = c.handle;
    ioctl(Node(), kDrmIoctlGemClose, &g);
  }
}
BENCHMARK(BM_ShimBoCreateClose);

void BM_ShimVmBindMapUnmap(benchmark::State& state) {
  PanthorVmCreate vc{};
  PanthorBoCreate bc{};
  bc.size = 65536;
  if (ioctl(Node(), kPanthorIoctlVmCreate, &vc) != 0 ||
      ioctl(Node(), kPanthorIoctlBoCreate, &bc) != 0) {
    state.SkipWithError("setup failed");
    return;
  }
  PanthorVmBindOp op{};
  op.bo_handle = bc.handle;
  op.va = 1ULL << 32;
  op.size = 65536;
  PanthorVmBind b{};
  b.vm_id = vc.id;
  b.ops = {sizeof(op), 1, reinterpret_cast<uint64_t>(&op)};
  for (auto _ : state) {
    op.flags = kPanthorVmBindOpTypeMap;
    op.bo_handle = bc.handle;
    if (ioctl(Node(), kPanthorIoctlVmBind, &b) != 0) state.SkipWithError("map failed");
    op.flags = kPanthorVmBindOpTypeUnmap;
    op.bo_handle = 0;
    if (ioctl(Node(), kPanthorIoctlVmBind, &b) != 0) state.SkipWithError("unmap failed");
  }
  state.counters["binds_per_pair"] = 2;
}
BENCHMARK(BM_ShimVmBindMapUnmap);

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("LD_PRELOAD") == nullptr) {
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
      fprintf(stderr, "shim_benchmark: cannot re-execute under the shim\n");
      return 1;
    }
    self[n] = '\0';
    std::string dir(self);
    dir = dir.substr(0, dir.rfind('/'));
    setenv("LD_PRELOAD", (dir + "/libfaultlab_shim.so").c_str(), 1);
    int status = 0;
    for (const char* live : {"1", "0"}) {
      setenv("FAULTLAB_LIVE", live, 1);
      const pid_t pid = fork();
      if (pid == 0) {
        execv(self, argv);
        _exit(127);
      }
      int st = 0;
      if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        status = 1;
    }
    return status;
  }
  if (Node() < 0) {
    fprintf(stderr, "shim_benchmark: no /dev/dri/renderD128: is LD_PRELOAD the shim?\n");
    return 1;
  }
  const char* live = std::getenv("FAULTLAB_LIVE");
  benchmark::AddCustomContext(
      "gpu", live && std::string(live) == "0" ? "virtual time (FAULTLAB_LIVE=0)" : "live device");
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
