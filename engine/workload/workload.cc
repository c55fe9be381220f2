#include "engine/workload/workload.h"

#include <algorithm>
#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "engine/base/prng.h"
#include "engine/workload/client.h"

namespace faultlab::workload {

using namespace uapi;  // NOLINT
using gpu::GpuAccess;

namespace {

constexpr uint64_t K = 1024;
constexpr uint64_t M = 1024 * 1024;

// Zipf(1) over n items with integer weights floor(2^20 / k): an integer-only
// sampler, the same on every machine.
class Zipf {
 public:
  explicit Zipf(uint64_t n) {
    uint64_t total = 0;
    for (uint64_t k = 1; k <= n; ++k) {
      total += (1ULL << 20) / k;
      cdf_.push_back(total);
    }
  }
  uint64_t Sample(Prng& prng) const {
    const uint64_t r = prng.Uniform(cdf_.back());
    return static_cast<uint64_t>(std::upper_bound(cdf_.begin(), cdf_.end(), r) - cdf_.begin());
  }

 private:
  std::vector<uint64_t> cdf_;
};

GpuAccess Range(uint64_t va, uint64_t len, trace::AccessType t, uint64_t stride = 0) {
  return GpuAccess{va, len, stride, t, false};
}

void FrameBegin(dev::Device& dev, uint32_t frame) {
  dev.EmitMarker(trace::MARKER_FRAME_BEGIN, frame, "frame");
}

// The end of a run: everything still queued runs to its end, then the "end"
// marker (the replayer runs the scheduler dry at the same point).
absl::Status Finish(dev::Device& dev) {
  dev.RunAll();
  dev.EmitMarker(trace::MARKER_NOTE, 0, "end");
  return absl::OkStatus();
}

void FrameEnd(dev::Device& dev, uint32_t frame) {
  dev.EmitMarker(trace::MARKER_FRAME_END, frame, "frame");
  dev.EmitStateHash();
}

// compute: large sparse buffers; sequential, strided and zipf-random access;
// a scratch buffer. Touches >= 256 MiB (288 MiB sequential alone) with the default 24 frames.
absl::Status Compute(const WorkloadConfig& c, dev::Device& dev, uint32_t frames) {
  Prng prng(c.seed);
  Client cl(&dev);
  const uint32_t vm = cl.CreateVm();
  const uint64_t buf_size = 1024 * M;
  const uint64_t gran = 64 * K;
  const uint32_t buf = cl.CreateBo(buf_size, kPanthorBoAllocOnFault, gran);
  const uint32_t scratch = cl.CreateBo(4 * M);
  const uint64_t buf_va = 0x10'0000'0000ULL, scratch_va = 0x8'0000'0000ULL;
  if (!vm || !buf || !scratch || cl.Map(vm, buf, buf_va, buf_size) ||
      cl.Map(vm, scratch, scratch_va, 4 * M)) {
    return absl::InternalError("compute: setup failed");
  }
  const uint32_t group = cl.CreateGroup(vm, 2);
  const uint32_t done = cl.CreateSyncobj();
  const Zipf zipf(buf_size / gran);
  uint64_t cursor = 0;
  for (uint32_t f = 0; f < frames; ++f) {
    FrameBegin(dev, f);
    std::vector<GpuAccess> acc;
    // Sequential: the next 12 MiB of the buffer.
    acc.push_back(Range(buf_va + cursor, 12 * M, trace::ACCESS_WRITE));
    cursor = (cursor + 12 * M) % buf_size;
    // Strided: one 4 KiB every 256 KiB over a 16 MiB window elsewhere.
    const uint64_t window = (prng.Uniform(buf_size / (16 * M))) * 16 * M;
    acc.push_back(Range(buf_va + window, 16 * M, trace::ACCESS_READ, 256 * K));
    // Zipf-random granules (hot ones repeat).
    for (int i = 0; i < 32; ++i) {
      // One draw a statement: C++ leaves the order of a call's arguments
      // unspecified (gcc on arm64 and x86-64 differ). This is the order
      // x86-64 took when the goldens were recorded.
      const trace::AccessType type = prng.Chance(1, 2) ? trace::ACCESS_READ : trace::ACCESS_ATOMIC;
      const uint64_t granule = zipf.Sample(prng);
      const uint64_t page = prng.Uniform(16);
      acc.push_back(Range(buf_va + granule * gran + page * 4096, 4096, type));
    }
    acc.push_back(Range(scratch_va, 4 * M, trace::ACCESS_WRITE));
    cl.Reset(done);
    if (cl.Submit(group, std::move(acc), done, f % 2) != 0) break;  // a dead group
    cl.Wait({done});
    FrameEnd(dev, f);
  }
  return Finish(dev);
}

// game: per frame transient BOs, tiler-heap growth through OOM events, texture
// streaming into sparse textures, render targets.
absl::Status Game(const WorkloadConfig& c, dev::Device& dev, uint32_t frames) {
  Prng prng(c.seed);
  Client cl(&dev);
  const uint32_t vm = cl.CreateVm();
  const uint64_t tex_size = 512 * M;
  const uint32_t textures = cl.CreateBo(tex_size, kPanthorBoAllocOnFault, 64 * K);
  const uint32_t rt = cl.CreateBo(8 * M);  // render targets
  const uint64_t tex_va = 0x20'0000'0000ULL, rt_va = 0x8'0000'0000ULL;
  if (!vm || !textures || !rt || cl.Map(vm, textures, tex_va, tex_size) ||
      cl.Map(vm, rt, rt_va, 8 * M)) {
    return absl::InternalError("game: setup failed");
  }
  PanthorTilerHeapCreate heap{vm, 1, 512 * 1024, 64, 2, 0, 0, 0};
  if (cl.Call(kPanthorIoctlTilerHeapCreate, &heap) != 0) {
    return absl::InternalError("game: tiler heap creation failed");
  }
  const uint32_t group = cl.CreateGroup(vm, 3);
  const uint32_t done = cl.CreateSyncobj();
  uint64_t streamed = 0;
  for (uint32_t f = 0; f < frames; ++f) {
    FrameBegin(dev, f);
    // Transient per-frame buffers (uniforms, vertices).
    std::vector<uint32_t> transient;
    std::vector<uint64_t> transient_va;
    for (int i = 0; i < 3; ++i) {
      const uint64_t size = (64 + prng.Uniform(192)) * K;
      const uint32_t bo = cl.CreateBo(size);
      const uint64_t va = 0x4'0000'0000ULL + static_cast<uint64_t>(i) * 4 * M;
      if (bo && cl.Map(vm, bo, va, (size + 4095) & ~4095ULL) == 0) {
        transient.push_back(bo);
        transient_va.push_back(va);
      }
    }
    std::vector<GpuAccess> acc;
    for (size_t i = 0; i < transient.size(); ++i) {
      acc.push_back(Range(transient_va[i], 64 * K, trace::ACCESS_READ));
    }
    // Geometry: the tiler runs out of heap a few times per frame.
    const int ooms = 1 + static_cast<int>(prng.Uniform(3));
    for (int i = 0; i < ooms; ++i) {
      acc.push_back(GpuAccess{heap.tiler_heap_ctx_gpu_va, 0, 0, trace::ACCESS_WRITE, true});
    }
    // Texture streaming: new tiles become resident, old ones are sampled.
    for (int i = 0; i < 24; ++i) {
      acc.push_back(Range(tex_va + (streamed % tex_size), 64 * K, trace::ACCESS_WRITE));
      streamed += 64 * K + prng.Uniform(4) * 64 * K;
    }
    for (int i = 0; i < 16; ++i) {
      acc.push_back(
          Range(tex_va + prng.Uniform(std::max<uint64_t>(streamed, 1) % tex_size / 4096) * 4096,
                4096, trace::ACCESS_READ));
    }
    // Fragment: the render targets.
    acc.push_back(Range(rt_va, 8 * M, trace::ACCESS_WRITE));
    cl.Reset(done);
    if (cl.Submit(group, std::move(acc), done, f % 3) != 0) break;
    cl.Wait({done});
    for (size_t i = 0; i < transient.size(); ++i) {
      cl.Unmap(vm, transient_va[i], 4 * M);
      cl.CloseBo(transient[i]);
    }
    FrameEnd(dev, f);
  }
  return Finish(dev);
}

// heap: tiler heaps grown hard — several heaps, many OOM events per frame.
absl::Status Heap(const WorkloadConfig& c, dev::Device& dev, uint32_t frames) {
  Prng prng(c.seed);
  Client cl(&dev);
  const uint32_t vm = cl.CreateVm();
  std::vector<PanthorTilerHeapCreate> heaps;
  for (int i = 0; i < 3; ++i) {
    PanthorTilerHeapCreate h{vm, 1, static_cast<uint32_t>(256 * 1024 << i), 32, 4, 0, 0, 0};
    if (cl.Call(kPanthorIoctlTilerHeapCreate, &h) != 0) {
      return absl::InternalError("heap: tiler heap creation failed");
    }
    heaps.push_back(h);
  }
  const uint32_t group = cl.CreateGroup(vm);
  const uint32_t done = cl.CreateSyncobj();
  for (uint32_t f = 0; f < frames; ++f) {
    FrameBegin(dev, f);
    std::vector<GpuAccess> acc;
    const int ooms = 2 + static_cast<int>(prng.Uniform(6));
    for (int i = 0; i < ooms; ++i) {
      const auto& h = heaps[prng.Uniform(heaps.size())];
      acc.push_back(GpuAccess{h.tiler_heap_ctx_gpu_va, 0, 0, trace::ACCESS_WRITE, true});
    }
    cl.Reset(done);
    if (cl.Submit(group, std::move(acc), done) != 0) break;
    cl.Wait({done});
    FrameEnd(dev, f);
  }
  return Finish(dev);
}

// pressure: three contexts competing for the budget while other tenants
// squeeze memory (the device runs with pressure on).
absl::Status Pressure(const WorkloadConfig& c, dev::Device& dev, uint32_t frames) {
  Prng prng(c.seed);
  struct Ctx {
    std::unique_ptr<Client> cl;
    uint32_t vm, buf, group, done;
  };
  std::vector<Ctx> ctxs;
  const uint64_t buf_va = 0x10'0000'0000ULL, size = 256 * M;
  for (int i = 0; i < 3; ++i) {
    Ctx x;
    x.cl = std::make_unique<Client>(&dev);
    x.vm = x.cl->CreateVm();
    x.buf = x.cl->CreateBo(size, kPanthorBoAllocOnFault, 64 * K);
    if (!x.vm || !x.buf || x.cl->Map(x.vm, x.buf, buf_va, size)) {
      return absl::InternalError("pressure: setup failed");
    }
    x.group = x.cl->CreateGroup(x.vm);
    x.done = x.cl->CreateSyncobj();
    ctxs.push_back(std::move(x));
  }
  // Let the other tenants fill memory before the first frame.
  ctxs[0].cl->Sleep(20'000'000);
  for (uint32_t f = 0; f < frames; ++f) {
    FrameBegin(dev, f);
    std::vector<uint32_t> live;
    for (Ctx& x : ctxs) {
      std::vector<GpuAccess> acc;
      for (int i = 0; i < 96; ++i) {
        acc.push_back(
            Range(buf_va + prng.Uniform(size / (64 * K)) * 64 * K, 4096, trace::ACCESS_WRITE));
      }
      x.cl->Reset(x.done);
      if (x.cl->Submit(x.group, std::move(acc), x.done) != 0) {
        x.group = x.cl->CreateGroup(x.vm);  // the context recreates its dead group
        continue;
      }
      live.push_back(static_cast<uint32_t>(&x - ctxs.data()));
    }
    for (uint32_t i : live) ctxs[i].cl->Wait({ctxs[i].done});
    ctxs[0].cl->Sleep(1'000'000);
    FrameEnd(dev, f);
  }
  return Finish(dev);
}

// fuzz: random valid and invalid ioctls.
absl::Status Fuzz(const WorkloadConfig& c, dev::Device& dev, uint32_t frames) {
  Prng prng(c.seed);
  Client cl(&dev);
  std::vector<uint32_t> bos, vms;
  for (uint32_t f = 0; f < frames; ++f) {
    FrameBegin(dev, f);
    for (int i = 0; i < 64; ++i) {
      switch (prng.Uniform(6)) {
        case 0: {
          PanthorBoCreate a{};
          a.size = prng.Uniform(1 << 22);
          a.flags = static_cast<uint32_t>(prng.Uniform(4));
          a.alloc_on_fault_granularity = prng.Chance(1, 2) ? 4096u << prng.Uniform(6) : 0;
          if (cl.Call(kPanthorIoctlBoCreate, &a) == 0) bos.push_back(a.handle);
          break;
        }
        case 1: {
          DrmGemClose g{bos.empty() ? 7u : bos[prng.Uniform(bos.size())], 0};
          cl.Call(kDrmIoctlGemClose, &g);
          break;
        }
        case 2: {
          PanthorVmCreate v{};
          v.user_va_range = prng.Chance(1, 4) ? prng.Uniform(1ULL << 49) : 0;
          if (cl.Call(kPanthorIoctlVmCreate, &v) == 0) vms.push_back(v.id);
          break;
        }
        case 3: {
          if (vms.empty() || bos.empty()) break;
          const uint64_t va = prng.Uniform(1 << 16) * 4096;
          // One draw a statement, in the order x86-64 took (see Compute).
          const uint64_t size = prng.Uniform(64) * 4096;
          const uint32_t bo = bos[prng.Uniform(bos.size())];
          cl.Map(vms[prng.Uniform(vms.size())], bo, va, size);
          break;
        }
        case 4: {
          PanthorDevQuery q{static_cast<uint32_t>(prng.Uniform(5)),
                            static_cast<uint32_t>(prng.Uniform(128)), 0};
          cl.Call(kPanthorIoctlDevQuery, &q);
          break;
        }
        default: {
          std::vector<char> junk(prng.Uniform(64));
          for (char& ch : junk) ch = static_cast<char>(prng.Next());
          const uint64_t at = junk.empty() ? 0 : cl.Place(junk.data(), junk.size());
          // One draw a statement, in the order x86-64 took (see Compute).
          const auto nr = static_cast<uint32_t>(0x40 + prng.Uniform(16));
          const auto dir = static_cast<uint32_t>(prng.Uniform(4));
          dev.Ioctl(cl.file(), Ioc(dir, 'd', nr, static_cast<uint32_t>(junk.size())), at);
          if (at) cl.Release(at);
          break;
        }
      }
    }
    FrameEnd(dev, f);
  }
  return Finish(dev);
}

using RunFn = absl::Status (*)(const WorkloadConfig&, dev::Device&, uint32_t);

RunFn FnOf(const std::string& name) {
  if (name == "compute") return Compute;
  if (name == "game") return Game;
  if (name == "heap") return Heap;
  if (name == "pressure") return Pressure;
  if (name == "fuzz") return Fuzz;
  return nullptr;
}

}  // namespace

const std::vector<WorkloadInfo>& Workloads() {
  static const auto* list = new std::vector<WorkloadInfo>{
      {"compute", "large sparse buffers: sequential, strided and zipf-random access, scratch", 24,
       false,
       "per frame: 12 MiB sequential writes, a 16 MiB window read every 256 KiB, 32 zipf-random "
       "granules (64 KiB) of a 1 GiB alloc-on-fault buffer, a 4 MiB scratch"},
      {"game",
       "frames with transient buffers, tiler-heap growth, texture streaming, render targets", 30,
       false,
       "per frame: 3 transient BOs mapped/unmapped, 1-3 tiler-OOM events (64 x 512 KiB heap), "
       "24 new 64 KiB texture tiles streamed in, 16 texels sampled, an 8 MiB render target"},
      {"heap", "tiler heaps grown hard", 30, false,
       "per frame: 2-7 tiler-OOM events over three heaps (256 KiB, 512 KiB, 1 MiB chunks, 32 max)"},
      {"pressure", "several contexts competing for a budget, with pressure on", 20, true,
       "three contexts with 256 MiB alloc-on-fault buffers, 96 faults (6 MiB) each per frame, "
       "while other "
       "tenants hold most of memory"},
      {"fuzz", "random valid and invalid ioctls", 10, false,
       "per frame: 64 random BO/VM/bind/query ioctls and raw requests with random bytes"},
  };
  return *list;
}

const WorkloadInfo* FindWorkload(const std::string& name) {
  for (const WorkloadInfo& w : Workloads()) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

absl::Status RunWorkload(const WorkloadConfig& config, dev::Device& dev) {
  const WorkloadInfo* info = FindWorkload(config.name);
  RunFn fn = FnOf(config.name);
  if (info == nullptr || fn == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown workload '", config.name, "'"));
  }
  return fn(config, dev, config.frames ? config.frames : info->default_frames);
}

}  // namespace faultlab::workload
