// Varint and zigzag primitives for the trace column encoding (LEB128, as in
// protobuf): 7 bits per byte, low group first, high bit = "more".
//
//   std::string out;
//   PutVarint(out, 300);            // 2 bytes
//   const char* p = out.data();
//   uint64_t v;
//   p = GetVarint(p, out.data() + out.size(), &v);  // nullptr on bad input
#ifndef FAULTLAB_ENGINE_TRACE_VARINT_H_
#define FAULTLAB_ENGINE_TRACE_VARINT_H_

#include <cstdint>
#include <cstring>
#include <string>

namespace faultlab::trace {

constexpr int kMaxVarintBytes = 10;

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// Appends `v` to `out`.
inline void PutVarint(std::string& out, uint64_t v) {
  char buf[kMaxVarintBytes];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}

// Decodes one varint from [p, end). Returns the position after it, or nullptr
// if the input ends early or the varint is longer than 10 bytes / overflows.
inline const char* GetVarint(const char* p, const char* end, uint64_t* v) {
  if (p < end && static_cast<unsigned char>(*p) < 0x80) {  // 1-byte fast path
    *v = static_cast<unsigned char>(*p);
    return p + 1;
  }
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p >= end) return nullptr;
    const uint64_t byte = static_cast<unsigned char>(*p++);
    if (shift == 63 && byte > 1) return nullptr;  // would overflow 64 bits
    result |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      *v = result;
      return p;
    }
  }
  return nullptr;
}

inline void PutFixed32(std::string& out, uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
               static_cast<char>(v >> 24)};
  out.append(b, 4);
}

inline uint32_t GetFixed32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | static_cast<uint32_t>(u[1]) << 8 |
         static_cast<uint32_t>(u[2]) << 16 | static_cast<uint32_t>(u[3]) << 24;
}

}  // namespace faultlab::trace

#endif  // FAULTLAB_ENGINE_TRACE_VARINT_H_
