// The command-stream encodings of engine/gpu/cs.cc (spec 7.5; Mesa's v10
// genxml), for tests that write streams.
//
//   std::vector<uint64_t> words = {Move48(2, va), Move32(10, 1), Store(10, 2, 1, 0)};
#ifndef FAULTLAB_ENGINE_DEV_CS_WORDS_H_
#define FAULTLAB_ENGINE_DEV_CS_WORDS_H_

#include <cstdint>

namespace faultlab::dev::testing::cs {

inline uint64_t Op(uint64_t op, uint64_t bits) { return op << 56 | bits; }
inline uint64_t Move48(uint32_t d, uint64_t imm) {
  return Op(1, uint64_t{d} << 48 | (imm & 0xffffffffffff));
}
inline uint64_t Move32(uint32_t d, uint32_t imm) { return Op(2, uint64_t{d} << 48 | imm); }
inline uint64_t AddImm32(uint32_t d, uint32_t s, int32_t imm) {
  return Op(16, uint64_t{d} << 48 | uint64_t{s} << 40 | static_cast<uint32_t>(imm));
}
inline uint64_t AddImm64(uint32_t d, uint32_t s, int32_t imm) {
  return Op(17, uint64_t{d} << 48 | uint64_t{s} << 40 | static_cast<uint32_t>(imm));
}
inline uint64_t Store(uint32_t base, uint32_t addr, uint16_t mask, int16_t off) {
  return Op(21, uint64_t{base} << 48 | uint64_t{addr} << 40 | uint64_t{mask} << 16 |
                    static_cast<uint16_t>(off));
}
inline uint64_t Load(uint32_t base, uint32_t addr, uint16_t mask, int16_t off) {
  return Op(20, uint64_t{base} << 48 | uint64_t{addr} << 40 | uint64_t{mask} << 16 |
                    static_cast<uint16_t>(off));
}
inline uint64_t Branch(uint32_t cond, uint32_t reg, int16_t off) {
  return Op(22, uint64_t{reg} << 40 | uint64_t{cond} << 28 | static_cast<uint16_t>(off));
}
inline uint64_t SyncAdd32(uint32_t data, uint32_t addr) {
  return Op(37, uint64_t{addr} << 40 | uint64_t{data} << 32);
}
inline uint64_t SyncSet64(uint32_t data, uint32_t addr) {
  return Op(52, uint64_t{addr} << 40 | uint64_t{data} << 32);
}
inline uint64_t SyncSet32(uint32_t data, uint32_t addr) {
  return Op(38, uint64_t{addr} << 40 | uint64_t{data} << 32);
}
// SYNC_WAIT32: until [addr] > data (greater) or <= data.
inline uint64_t SyncWait32(uint32_t data, uint32_t addr, bool greater) {
  return Op(39, uint64_t{addr} << 40 | uint64_t{data} << 32 | uint64_t{greater} << 28);
}

// STORE_STATE: state 0 timestamp, 1 cycle count, at [addr] + off.
inline uint64_t StoreState(uint32_t state, uint32_t addr, int16_t off) {
  return Op(40, uint64_t{addr} << 40 | uint64_t{state & 3} << 32 | static_cast<uint16_t>(off));
}

}  // namespace faultlab::dev::testing::cs

#endif  // FAULTLAB_ENGINE_DEV_CS_WORDS_H_
