#include "engine/gpu/work.h"

#include <algorithm>
#include <cstring>

#include "engine/gpu/cs_isa.h"

namespace faultlab::gpu {
namespace {

using cs::kRunIdvs;
using cs::OpOf;

// "Descriptor Type".
constexpr uint32_t kDescTexture = 2, kDescBuffer = 9, kDescPlane = 10;
// Buffer, Texture, Plane, Shader Program, Local Storage: 8 words each;
// "Resource": 4.
constexpr uint32_t kDescBytes = 32;
constexpr uint32_t kResourceBytes = 16;
constexpr uint32_t kTextureCube = 0;
// A shader's binary has no length in its descriptor: the twin fetches its
// first 4 KiB (modelled: Mesa's shaders are mostly smaller), no further
// than its mapping goes.
constexpr uint64_t kShaderFetchBytes = 4096;
// "COMPUTE SR": the four selectable SRT/FAU/SPD/TSD pairs, then the
// workgroup size and the job size.
constexpr uint32_t kSrSrt = 0, kSrFau = 8, kSrSpd = 16, kSrTsd = 24, kSrWgSize = 33,
                   kSrJobSizeX = 37;
// "IDVS SR" (RUN_TILING's too: modelled).
constexpr uint32_t kSrIndexCount = 33, kSrInstanceCount = 34, kSrIndexBufferSize = 39,
                   kSrTilerCtx = 40, kSrOq = 46, kSrBlendDesc = 50, kSrZsd = 52,
                   kSrIndexBuffer = 54, kSrTilerFlags = 56;
// "FRAGMENT SR".
constexpr uint32_t kSrFbdPointer = 40, kSrTemPointer = 44, kSrTemRowStride = 46;

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

  // Reads `n` bytes of a descriptor; false (the status kept) when it
  // faults, or — the walk stopping quietly — past the footprint's budget.
  bool Read(uint64_t va, uint8_t* d, uint32_t n) {
    if (status_ || reads_ >= kMaxDescriptorReads) return false;
    ++reads_;
    status_ = mem_.Read(va, d, n, &out_->fault_va);
    return status_ == 0;
  }
  bool Desc(uint64_t va, uint8_t (&d)[kDescBytes]) { return Read(va, d, kDescBytes); }
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
  // "Resource" (16 bytes) names a table of descriptors or raw memory.
  void Resources(uint64_t srt) {
    const uint64_t base = srt & ~uint64_t{63};
    for (uint32_t i = 0; i < (srt & 63); ++i) {
      uint8_t d[kResourceBytes];
      if (!Read(base + i * kResourceBytes, d, kResourceBytes)) return;
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

  // A shader environment: its resource table, FAU, program and storage.
  void Environment(uint64_t srt, uint64_t fau, uint64_t spd, uint64_t tsd, uint64_t threads,
                   const WorkShape& shape) {
    Resources(srt);
    Fau(fau);
    Shader(spd);
    LocalStorage(tsd, threads, shape);
  }

  // A "Draw" descriptor (128 bytes): its depth/stencil and blend
  // descriptors, occlusion counter and shader environment.
  void DrawDescriptor(uint64_t dcd, uint64_t threads, const WorkShape& shape) {
    uint8_t d[128];
    if (!Read(dcd, d, sizeof(d))) return;
    Add(dcd, sizeof(d), trace::ACCESS_READ);
    if (uint64_t zsd = Dword(d, 10)) Add(zsd, kDescBytes, trace::ACCESS_READ);
    Blend(Dword(d, 12));
    if (uint64_t oq = Dword(d, 14)) AddData(oq, 8);
    const uint64_t fau = Dword(d, 30) | uint64_t{Word(d, 17) & 0xff} << 56;
    Environment(Dword(d, 24), fau, Dword(d, 26), Dword(d, 28), threads, shape);
  }

  // Blend descriptors: the count in the pointer's low 4 bits, 16 bytes each.
  void Blend(uint64_t blend) { Add(blend & ~uint64_t{15}, (blend & 15) * 16, trace::ACCESS_READ); }

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
    if (tsd == 0 || !Desc(tsd, d)) return;  // a null pointer names nothing
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
  uint32_t reads_ = 0;
};

}  // namespace

// The ranges in address order, overlapping ones of the same access merged
// (many descriptors name the same buffer; each page is touched once).
void MergeRanges(std::vector<GpuAccess>* ranges) {
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
  walk.Environment(Reg64(regs, kSrSrt + 2 * srt), Reg64(regs, kSrFau + 2 * fau),
                   Reg64(regs, kSrSpd + 2 * spd), Reg64(regs, kSrTsd + 2 * tsd), threads, shape);
  if (walk.status()) return walk.status();
  MergeRanges(&out->ranges);
  return 0;
}

uint64_t Primitives(uint32_t mode, uint64_t count) {
  switch (mode) {
    case 1:  // points
      return count;
    case 2:  // lines
      return count / 2;
    case 4:  // line strip
      return count > 1 ? count - 1 : 0;
    case 6:  // line loop
      return count > 1 ? count : 0;
    case 8:  // triangles
      return count / 3;
    case 10:  // triangle strip
    case 12:  // triangle fan
      return count > 2 ? count - 2 : 0;
    case 13:  // polygon: a fan
      return count > 2 ? count - 2 : 0;
    case 14:  // quads
      return count / 4;
    default:  // none
      return 0;
  }
}

uint64_t PolygonListBytes(uint64_t primitives, uint64_t vertices, bool malloc_positions) {
  if (primitives == 0) return 0;
  return 128 + SatMul(primitives, 32) + (malloc_positions ? SatMul(vertices, 16) : 0);
}

uint32_t DrawFootprint(const CsRegs& regs, uint64_t w, const WorkShape& shape, GpuMemory& mem,
                       Footprint* out, Draw* draw) {
  const bool idvs = OpOf(w) == kRunIdvs;
  // The primitive flags: the register's, with the instruction's override
  // ([31:0]) OR-ed in (Mesa's panfrost puts the draw mode there).
  const uint32_t flags = regs[kSrTilerFlags] | static_cast<uint32_t>(w);
  const uint64_t instances = regs[kSrInstanceCount];
  draw->vertices = SatMul(regs[kSrIndexCount], instances);
  draw->primitives = SatMul(Primitives(flags & 0xff, regs[kSrIndexCount]), instances);
  draw->tiler_ctx = Reg64(regs, kSrTilerCtx);
  draw->polygon_bytes = PolygonListBytes(draw->primitives, draw->vertices, idvs && ((w >> 33) & 1));

  Walker walk(mem, out);
  auto env = [&](uint32_t srt, uint32_t fau, uint32_t spd, uint32_t tsd) {
    walk.Environment(Reg64(regs, kSrSrt + 2 * srt), Reg64(regs, kSrFau + 2 * fau),
                     Reg64(regs, kSrSpd + 2 * spd), Reg64(regs, kSrTsd + 2 * tsd), draw->vertices,
                     shape);
  };
  if (idvs) {
    env(0, 0, 0, 0);  // the position shader
    // The varying and fragment shaders, where the draw has them (a null
    // program names none), by the instruction's selects.
    if (Reg64(regs, kSrSpd + 2)) env((w >> 35) & 1, (w >> 36) & 1, 1, (w >> 37) & 1);
    if (Reg64(regs, kSrSpd + 4)) env((w >> 38) & 1 ? 2 : 0, 2, 2, (w >> 39) & 1 ? 2 : 0);
  } else {
    env((w >> 40) & 3, (w >> 46) & 3, (w >> 42) & 3, (w >> 44) & 3);
  }
  if ((flags >> 8) & 7) {  // indexed: "Index type" of the primitive flags
    walk.Add(Reg64(regs, kSrIndexBuffer), regs[kSrIndexBufferSize], trace::ACCESS_READ);
  }
  walk.Blend(Reg64(regs, kSrBlendDesc));
  if (uint64_t zsd = Reg64(regs, kSrZsd)) walk.Add(zsd, kDescBytes, trace::ACCESS_READ);
  if (uint64_t oq = Reg64(regs, kSrOq)) walk.AddData(oq, 8);
  if (draw->tiler_ctx) {
    // "Tiler Context": read and updated by the tiler; its heap descriptor
    // and geometry buffer (size >> 12 in [11:0], address >> 12 above).
    uint8_t t[128];
    if (walk.Read(draw->tiler_ctx, t, sizeof(t))) {
      walk.AddData(draw->tiler_ctx, sizeof(t));
      if (uint64_t heap = Dword(t, 6)) walk.Add(heap, kDescBytes, trace::ACCESS_READ);
      const uint64_t geom = Dword(t, 8);
      if (geom >> 12) walk.AddData(geom & ~uint64_t{0xfff}, (geom & 0xfff) << 12);
    }
  }
  if (walk.status()) return walk.status();
  MergeRanges(&out->ranges);
  return 0;
}

uint32_t FragmentFootprint(const CsRegs& regs, uint64_t w, const WorkShape& shape, GpuMemory& mem,
                           Footprint* out, uint64_t* tiler_ctx) {
  // "Framebuffer pointer": the descriptor 64-byte aligned, a ZS/CRC
  // extension in [1], the render targets minus one in [5:2].
  const uint64_t fbd = Reg64(regs, kSrFbdPointer);
  const uint64_t base = fbd & ~uint64_t{63};
  const bool zs_crc = (fbd >> 1) & 1;
  const uint32_t rts = ((fbd >> 2) & 0xf) + 1;
  Walker walk(mem, out);
  uint8_t p[64];  // "Framebuffer Parameters"
  if (!walk.Read(base, p, sizeof(p))) return walk.status();
  walk.Add(base, 128, trace::ACCESS_READ);
  const uint64_t width = (Word(p, 8) & 0xffff) + 1, height = (Word(p, 8) >> 16) + 1;
  const uint64_t samples = uint64_t{1} << (Word(p, 11) & 7);
  const uint64_t tile_rows = (height + 15) / 16;
  const uint64_t pixels = SatMul(SatMul(width, height), samples);
  *tiler_ctx = Dword(p, 14);
  // Rows a surface's row stride spans: one a pixel row linear, one a
  // 16-pixel tile row u-interleaved ("Block Format"); AFBC: the header
  // area and 4 bytes a pixel of body (the uncompressed size of RGBA8).
  auto surface = [&](uint64_t addr, uint32_t block, uint64_t row_stride, uint64_t surface_stride,
                     uint32_t msaa, trace::AccessType a) {
    if (addr == 0 || block == 0) return;  // No Write
    uint64_t bytes = 0;
    if (block == 12 || block == 13) {
      bytes = surface_stride + SatMul(SatMul(width, height), 4);  // [11] is the body offset
    } else {
      bytes = SatMul(row_stride, block == 2 ? height : tile_rows);
      if (msaa >= 2) bytes += SatMul(surface_stride, samples - 1);  // one surface a sample
    }
    walk.Add(addr, bytes, a);
  };
  const uint32_t zs_flags = Word(p, 12);
  uint64_t at = base + 128;
  if (zs_crc) {
    uint8_t z[64];  // "ZS CRC Extension"
    if (!walk.Read(at, z, sizeof(z))) return walk.status();
    walk.Add(at, sizeof(z), trace::ACCESS_READ);
    const bool z_write = (zs_flags >> 18) & 1, z_load = (zs_flags >> 19) & 1;
    const bool s_write = (zs_flags >> 8) & 1, s_load = (zs_flags >> 9) & 1;
    if (z_write || z_load)
      surface(Dword(z, 8), (Word(z, 0) >> 4) & 0xf, Word(z, 10), Word(z, 11), (Word(z, 0) >> 8) & 3,
              z_write ? trace::ACCESS_WRITE : trace::ACCESS_READ);
    if (s_write || s_load)
      surface(Dword(z, 12), (Word(z, 0) >> 20) & 0xf, Word(z, 14), Word(z, 15),
              (Word(z, 0) >> 24) & 3, s_write ? trace::ACCESS_WRITE : trace::ACCESS_READ);
    if (((zs_flags >> 30) & 3) && Dword(z, 4))  // CRC read or write enabled
      walk.AddData(Dword(z, 4), SatMul(Word(z, 1), tile_rows));
    at += sizeof(z);
  }
  for (uint32_t i = 0; i < rts; ++i, at += 64) {
    uint8_t rt[64];  // "Render Target"
    if (!walk.Read(at, rt, sizeof(rt))) return walk.status();
    walk.Add(at, sizeof(rt), trace::ACCESS_READ);
    if (!(Word(rt, 1) & 1)) continue;  // Write Enable
    surface(Dword(rt, 8), (Word(rt, 1) >> 8) & 0xf, Word(rt, 10), Word(rt, 11),
            (Word(rt, 1) >> 12) & 3, trace::ACCESS_WRITE);
  }
  // Frame shaders (pre frame 0 and 1, post frame): a draw descriptor each
  // where its mode is not Never.
  const uint64_t dcds = Dword(p, 6);
  for (uint32_t k = 0; k < 3; ++k) {
    if (dcds && ((Word(p, 0) >> (3 * k)) & 7))
      walk.DrawDescriptor(dcds + 128 * k, std::min(pixels, shape.resident_threads), shape);
  }
  if (w & 1)  // the tile enable map: a row a tile row
    walk.Add(Reg64(regs, kSrTemPointer), SatMul(regs[kSrTemRowStride], tile_rows),
             trace::ACCESS_READ);
  if (walk.status()) return walk.status();
  MergeRanges(&out->ranges);
  return 0;
}

uint32_t FullscreenFootprint(const CsRegs& regs, uint64_t w, const WorkShape& shape, GpuMemory& mem,
                             Footprint* out) {
  Walker walk(mem, out);
  walk.DrawDescriptor(Reg64(regs, (w >> 40) & 0xff), shape.resident_threads, shape);
  if (walk.status()) return walk.status();
  MergeRanges(&out->ranges);
  return 0;
}

}  // namespace faultlab::gpu
