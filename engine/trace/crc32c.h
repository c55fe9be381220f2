// Crc32c: CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), the checksum
// of every trace frame. Software slicing-by-8, so the value and the code path
// are the same on every machine.
//
//   uint32_t crc = faultlab::trace::Crc32c(bytes);
//   crc = faultlab::trace::Crc32cExtend(crc, more_bytes);
#ifndef FAULTLAB_ENGINE_TRACE_CRC32C_H_
#define FAULTLAB_ENGINE_TRACE_CRC32C_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace faultlab::trace {

// Extends `crc` (the CRC of earlier bytes, 0 for none) over `data`.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(absl::string_view data) { return Crc32cExtend(0, data.data(), data.size()); }

}  // namespace faultlab::trace

#endif  // FAULTLAB_ENGINE_TRACE_CRC32C_H_
