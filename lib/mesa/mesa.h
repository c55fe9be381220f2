// The Mesa workloads (docs/mesa.md): the Mesa tier's own programs
// (tests/mesa) on Mesa 25.0.7's panfrost and panvk, as `./lab mesa` builds
// them into a cache. The agent's schedule runs them under the device shim
// like any program (`--workloads mesa-gles`); `faultlab workloads` lists
// them. Unlike the twin's workloads they are real GPU userspace: what they
// submit is Mesa's, and only the GPU's execution of it is modelled.
#ifndef FAULTLAB_LIB_MESA_MESA_H_
#define FAULTLAB_LIB_MESA_MESA_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace faultlab::mesa {

// The Mesa version tools/mesa.sh builds (its cache directory's suffix).
inline constexpr char kVersion[] = "25.0.7";

struct Workload {
  const char* name;                  // mesa-gles, mesa-vk, mesa-vk-compute
  const char* program;               // in the cache's programs directory
  std::vector<const char*> shaders;  // its SPIR-V arguments, from the same directory
  const char* count_flag;            // how it is told its frames (or passes)
  bool vulkan;                       // panvk through the Vulkan loader; else panfrost's EGL/GLES
  const char* summary;
  uint32_t default_frames;
};

const std::vector<Workload>& Workloads();
// nullptr when `name` is not a Mesa workload.
const Workload* FindWorkload(absl::string_view name);

// A built cache: Mesa's install prefix, and the tier's programs.
struct Cache {
  std::string dir;       // .../mesa-25.0.7
  std::string prefix;    // dir/install
  std::string libdir;    // prefix/lib/<multiarch triple>
  std::string programs;  // dir/programs/current (tools/mesa.sh programs)
};

// Where ./lab mesa builds: $FAULTLAB_CACHE/mesa-VERSION, else
// $HOME/.cache/faultlab/mesa-VERSION (tools/mesa.sh's CACHE).
std::string DefaultDir();

// The cache in `dir` (empty: DefaultDir()), or FAILED_PRECONDITION saying
// what is missing there and how to build it.
absl::StatusOr<Cache> OpenCache(std::string dir = "");

// What runs `w` for `frames` frames (0: its default): argv, and the
// environment that points the program at the cache's Mesa.
struct Invocation {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
};
Invocation Invoke(const Cache& cache, const Workload& w, uint32_t frames);

}  // namespace faultlab::mesa

#endif  // FAULTLAB_LIB_MESA_MESA_H_
