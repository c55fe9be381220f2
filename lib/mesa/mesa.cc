#include "lib/mesa/mesa.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace faultlab::mesa {
namespace {

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// The architecture in the names Mesa's install uses (lib/ARCH-linux-gnu,
// panfrost_icd.ARCH.json).
#if defined(__aarch64__)
constexpr char kArch[] = "aarch64";
#else
constexpr char kArch[] = "x86_64";
#endif

}  // namespace

const std::vector<Workload>& Workloads() {
  static const std::vector<Workload> all = {
      {"mesa-gles",
       "gles_render",
       {},
       "--frames",
       false,
       "panfrost (EGL/GLES 3): a render loop, 2 render targets + depth, a texture, triangle "
       "counts growing until the tiler heap grows, a read-back each frame",
       8},
      {"mesa-vk",
       "vk_render",
       {"render.vert.spv", "render.frag.spv"},
       "--frames",
       true,
       "panvk (Vulkan): a render pass over a growing share of 131,072 triangles, the image "
       "copied to a host buffer each frame (IDVS, fragment and compute subqueues)",
       8},
      {"mesa-vk-compute",
       "vk_compute",
       {"compute.comp.spv"},
       "--passes",
       true,
       "panvk (Vulkan): compute passes of varying size over two 4 MiB SSBOs",
       8},
  };
  return all;
}

const Workload* FindWorkload(absl::string_view name) {
  for (const Workload& w : Workloads()) {
    if (name == w.name) return &w;
  }
  return nullptr;
}

std::string DefaultDir() {
  const char* cache = std::getenv("FAULTLAB_CACHE");
  const char* home = std::getenv("HOME");
  const std::string root = cache && *cache
                               ? std::string(cache)
                               : absl::StrCat(home && *home ? home : "/root", "/.cache/faultlab");
  return absl::StrCat(root, "/mesa-", kVersion);
}

absl::StatusOr<Cache> OpenCache(std::string dir) {
  if (dir.empty()) dir = DefaultDir();
  Cache c{dir, dir + "/install", absl::StrCat(dir, "/install/lib/", kArch, "-linux-gnu"),
          dir + "/programs/current"};
  if (!Exists(c.prefix + "/.built")) {
    return absl::FailedPreconditionError(
        absl::StrCat("Mesa ", kVersion, " is not built in ", dir, " (./lab mesa builds it)"));
  }
  if (!Exists(c.programs + "/.built")) {
    return absl::FailedPreconditionError(
        absl::StrCat("the Mesa tier's programs are not built in ", dir,
                     "/programs (tools/mesa.sh programs, or ./lab mesa, builds them)"));
  }
  return c;
}

Invocation Invoke(const Cache& cache, const Workload& w, uint32_t frames) {
  Invocation inv;
  inv.argv = {absl::StrCat(cache.programs, "/", w.program)};
  for (const char* shader : w.shaders)
    inv.argv.push_back(absl::StrCat(cache.programs, "/", shader));
  inv.argv.push_back(w.count_flag);
  inv.argv.push_back(absl::StrCat(frames ? frames : w.default_frames));
  if (w.vulkan) {
    // The loader (Debian's) finds panvk's ICD only.
    inv.env = {{"VK_ICD_FILENAMES",
                absl::StrCat(cache.prefix, "/share/vulkan/icd.d/panfrost_icd.", kArch, ".json")}};
  } else {
    // Mesa's libEGL/libGLESv2 (no glvnd) before any other.
    const char* old = std::getenv("LD_LIBRARY_PATH");
    inv.env = {
        {"LD_LIBRARY_PATH", old && *old ? absl::StrCat(cache.libdir, ":", old) : cache.libdir}};
  }
  return inv;
}

}  // namespace faultlab::mesa
