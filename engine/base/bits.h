// Bit facts the uAPI's checks share.
#ifndef FAULTLAB_ENGINE_BASE_BITS_H_
#define FAULTLAB_ENGINE_BASE_BITS_H_

#include <cstdint>

namespace faultlab {

// is_power_of_2() of include/linux/log2.h: 0 is not one.
constexpr bool IsPowerOf2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

}  // namespace faultlab

#endif  // FAULTLAB_ENGINE_BASE_BITS_H_
