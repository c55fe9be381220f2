// StateHasher: the fixed hash of the engine's canonical state serializations
// ("faultlab-hash64"). Never std::hash or absl::Hash, whose values may change
// between builds and platforms. Per 64-bit word w:
//     h = (rotl64(h ^ (w * 0x9E3779B97F4A7C15), 27) * 0xC2B2AE3D27D4EB4F) + 0x165667B19E3779F9
// and the splitmix64 finalizer at the end. Callers feed integers in a
// canonical order (addresses ascending, ids ascending).
//
//   StateHasher h;
//   h.Add(vm.id); h.Add(addr); h.Add(range);
//   uint64_t digest = h.Finish();
#ifndef FAULTLAB_ENGINE_BASE_HASH_H_
#define FAULTLAB_ENGINE_BASE_HASH_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace faultlab {

class StateHasher {
 public:
  void Add(uint64_t w) {
    h_ ^= w * 0x9E3779B97F4A7C15ULL;
    h_ = ((h_ << 27) | (h_ >> 37)) * 0xC2B2AE3D27D4EB4FULL + 0x165667B19E3779F9ULL;
    ++words_;
  }
  void Add(absl::string_view s) {
    Add(s.size());
    uint64_t w = 0;
    int n = 0;
    for (unsigned char c : s) {
      w |= static_cast<uint64_t>(c) << (8 * n);
      if (++n == 8) {
        Add(w);
        w = 0;
        n = 0;
      }
    }
    if (n) Add(w);
  }
  uint64_t Finish() const {
    uint64_t z = h_ ^ words_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t h_ = 0x6661756c746c6162ULL;  // "faultlab"
  uint64_t words_ = 0;
};

}  // namespace faultlab

#endif  // FAULTLAB_ENGINE_BASE_HASH_H_
