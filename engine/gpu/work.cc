#include "engine/gpu/work.h"

#include <algorithm>
#include <cstring>

namespace faultlab::gpu {
namespace {

// "Descriptor Type".
constexpr uint32_t kDescTexture = 2, kDescBuffer = 9, kDescPlane = 10;
constexpr uint32_t kDescBytes =
    32;  // Buffer, Texture, Plane, Resource, Shader Program, Local Storage
constexpr uint32_t kTextureCube = 0;
// A shader's binary has no length in its descriptor: the twin fetches its
// first 4 KiB (modelled: Mesa's shaders are mostly smaller), no further
// than its mapping goes.
constexpr uint64_t kShaderFetchBytes = 4096;
// "COMPUTE SR": the four selectable SRT/FAU/SPD/TSD pairs, then the
// workgroup size and the job size.
constexpr uint32_t kSrSrt = 0, kSrFau = 8, kSrSpd = 16, kSrTsd = 24, kSrWgSize = 33,
                   kSrJobSizeX = 37;

uint64_t Reg64(const CsRegs& r, uint32_t i) {
  return r[i & 0xff] | static_cast<uint64_t>(r[(i + 1) & 0xff]) << 32;
}
uint32_t Word(const uint8_t* d, int i) {
  uint32_t v;
  std::memcpy(&v, d + 4 * i, 4);
  return v;
}
uint64_t Dword(const uint8_t* d, int i) { return Word(d, i) | uint64_t{Word(d, i + 1)} << 32; }

uint64_t SatMul(uint64_t a, uint64_t b) {
  return (b != 0 && a > UINT64_MAX / b) ? UINT64_MAX : a * b;
}

// Collects a footprint's ranges, reading descriptors through `mem`.
class Walker {
 public:
  Walker(GpuMemory& mem, Footprint* out) : mem_(mem), out_(out) {}

  uint32_t status() const { return status_; }

  // Reads a 32-byte descriptor; false (the status kept) when it faults.
  bool Desc(uint64_t va, uint8_t (&d)[kDescBytes]) {
    if (status_) return false;
    status_ = mem_.Read(va, d, kDescBytes, &out_->fault_va);
    return status_ == 0;
  }
  void Add(uint64_t va, uint64_t len, trace::AccessType a) {
    if (len == 0) return;
    GpuAccess g;
    g.va = va;
    g.length_bytes = len;
    g.access = a;
    out_->ranges.push_back(g);
  }
  // Memory a shader may read or write: written where the mapping allows.
  void AddData(uint64_t va, uint64_t len) {
    Add(va, len, mem_.Writable(va) ? trace::ACCESS_WRITE : trace::ACCESS_READ);
  }

  // A resource table (its count in the pointer's low 6 bits): each
  // "Resource" names a table of descriptors or raw memory.
  void Resources(uint64_t srt) {
    const uint64_t base = srt & ~uint64_t{63};
    for (uint32_t i = 0; i < (srt & 63); ++i) {
      uint8_t d[kDescBytes];
      if (!Desc(base + i * kDescBytes, d)) return;
      const uint64_t addr = Dword(d, 0) & ((uint64_t{1} << 56) - 1);
      const bool descriptors = (Word(d, 1) >> 24) & 1;
      const uint64_t size = Dword(d, 2);
      if (!descriptors) {
        AddData(addr, size);
        continue;
      }
      Add(addr, size, trace::ACCESS_READ);  // the table itself
      const uint64_t n = std::min<uint64_t>(size / kDescBytes, kMaxDescriptorsPerTable);
      for (uint64_t k = 0; k < n; ++k) Descriptor(addr + k * kDescBytes);
    }
  }

  // One descriptor of a table: a buffer's range, a texture's planes, a
  // plane; samplers, attributes and the rest own no memory.
  void Descriptor(uint64_t va) {
    uint8_t d[kDescBytes];
    if (!Desc(va, d)) return;
    switch (Word(d, 0) & 0xf) {
      case kDescBuffer:
        AddData(Dword(d, 2), Word(d, 1));
        break;
      case kDescPlane:
        Add(Dword(d, 2), Word(d, 1), trace::ACCESS_READ);
        break;
      case kDescTexture: {
        // "Surfaces" points to a plane per level and layer (six faces to a
        // cube layer); a 3D level's slices share its plane.
        const uint64_t levels = ((Word(d, 2) >> 16) & 0x1f) + 1;
        const uint64_t faces = ((Word(d, 0) >> 4) & 3) == kTextureCube ? 6 : 1;
        const uint64_t layers = ((Word(d, 6) & 0xffff) + 1) * faces;
        const uint64_t planes = std::min<uint64_t>(levels * layers, kMaxPlanesPerTexture);
        const uint64_t surfaces = Dword(d, 4);
        Add(surfaces, planes * kDescBytes, trace::ACCESS_READ);
        for (uint64_t p = 0; p < planes; ++p) {
          uint8_t pd[kDescBytes];
          if (!Desc(surfaces + p * kDescBytes, pd)) return;
          Add(Dword(pd, 2), Word(pd, 1), trace::ACCESS_READ);
        }
        break;
      }
      default:
        break;
    }
  }

  // Fast-access uniforms: the address in [47:0], the count of 64-bit
  // words in [63:56].
  void Fau(uint64_t fau) {
    Add(fau & ((uint64_t{1} << 48) - 1), (fau >> 56) * 8, trace::ACCESS_READ);
  }

  // "Shader Program": the descriptor and its binary.
  void Shader(uint64_t spd) {
    uint8_t d[kDescBytes];
    if (!Desc(spd, d)) return;
    Add(spd, kDescBytes, trace::ACCESS_READ);
    const uint64_t binary = Dword(d, 2);
    // An unmapped binary still takes its fault: one byte of it.
    Add(binary, std::max<uint64_t>(1, std::min(kShaderFetchBytes, mem_.MappedBytes(binary))),
        trace::ACCESS_EXECUTE);
  }

  // "Local Storage": thread storage for the threads resident at once (16 <<
  // TLS Size bytes each), workgroup storage for every instance on every
  // core (1 << (WLS Size Scale - 1) bytes each; as Mesa sizes both).
  void LocalStorage(uint64_t tsd, uint64_t threads, const WorkShape& shape) {
    uint8_t d[kDescBytes];
    if (!Desc(tsd, d)) return;
    Add(tsd, kDescBytes, trace::ACCESS_READ);
    const uint64_t tls = Dword(d, 2) & ((uint64_t{1} << 48) - 1);
    if (tls) {
      const uint64_t per_thread = uint64_t{16} << (Word(d, 0) & 0x1f);
      AddData(tls, SatMul(per_thread, std::min(threads, shape.resident_threads)));
    }
    const uint32_t instances_log2 = Word(d, 1) & 0x1f, scale = (Word(d, 1) >> 8) & 0x1f;
    const uint64_t wls = Dword(d, 4);
    if (wls && instances_log2 != 31 && scale > 0) {
      const uint64_t per_core = (uint64_t{1} << instances_log2) << (scale - 1);
      AddData(wls, SatMul(per_core, shape.cores));
    }
  }

 private:
  GpuMemory& mem_;
  Footprint* out_;
  uint32_t status_ = 0;
};

// The ranges in address order, overlapping ones of the same access merged
// (many descriptors name the same buffer; each page is touched once).
void Merge(std::vector<GpuAccess>* ranges) {
  std::sort(ranges->begin(), ranges->end(), [](const GpuAccess& a, const GpuAccess& b) {
    return a.access != b.access ? a.access < b.access : a.va < b.va;
  });
  std::vector<GpuAccess> out;
  for (const GpuAccess& r : *ranges) {
    const uint64_t end = r.va + r.length_bytes < r.va ? UINT64_MAX : r.va + r.length_bytes;
    if (!out.empty() && out.back().access == r.access &&
        r.va <= out.back().va + out.back().length_bytes) {
      out.back().length_bytes =
          std::max(out.back().va + out.back().length_bytes, end) - out.back().va;
    } else {
      out.push_back(r);
      out.back().length_bytes = end - r.va;
    }
  }
  ranges->swap(out);
}

}  // namespace

uint32_t ComputeFootprint(const CsRegs& regs, uint64_t w, const WorkShape& shape, GpuMemory& mem,
                          Footprint* out) {
  const uint32_t srt = (w >> 40) & 3, spd = (w >> 42) & 3, tsd = (w >> 44) & 3, fau = (w >> 46) & 3;
  // Threads: the workgroup size (each axis minus one in 10 bits) times
  // the workgroups of the job.
  const uint32_t wg = regs[kSrWgSize];
  uint64_t threads =
      uint64_t{(wg & 0x3ff) + 1} * (((wg >> 10) & 0x3ff) + 1) * (((wg >> 20) & 0x3ff) + 1);
  for (uint32_t axis = 0; axis < 3; ++axis) threads = SatMul(threads, regs[kSrJobSizeX + axis]);

  Walker walk(mem, out);
  walk.Resources(Reg64(regs, kSrSrt + 2 * srt));
  walk.Fau(Reg64(regs, kSrFau + 2 * fau));
  walk.Shader(Reg64(regs, kSrSpd + 2 * spd));
  walk.LocalStorage(Reg64(regs, kSrTsd + 2 * tsd), threads, shape);
  if (walk.status()) return walk.status();
  Merge(&out->ranges);
  return 0;
}

}  // namespace faultlab::gpu
