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

// CALL / JUMP to the buffer at pair `addr`, `len` register bytes long.
inline uint64_t Call(uint32_t addr, uint32_t len) {
  return Op(32, uint64_t{addr} << 40 | uint64_t{len} << 32);
}
inline uint64_t Jump(uint32_t addr, uint32_t len) {
  return Op(33, uint64_t{addr} << 40 | uint64_t{len} << 32);
}
inline uint64_t Umin32(uint32_t d, uint32_t s0, uint32_t s1) {
  return Op(18, uint64_t{d} << 48 | uint64_t{s0} << 40 | uint64_t{s1} << 32);
}
// WAIT for scoreboard entries `mask`, counting progress up when `progress`.
inline uint64_t Wait(uint32_t mask, bool progress) {
  return Op(3, uint64_t{progress} << 32 | uint64_t{mask & 0xff} << 16);
}
inline uint64_t ProgressLoad(uint32_t d) { return Op(43, uint64_t{d} << 48); }
inline uint64_t ProgressStore(uint32_t s) { return Op(42, uint64_t{s} << 40); }
inline uint64_t ProgressWait(uint32_t s, uint32_t queue) {
  return Op(24, uint64_t{s} << 40 | (queue & 0x1f));
}
// HEAP_OPERATION: 0 vt_start, 1 vt_end, 3 frag_end.
inline uint64_t HeapOperation(uint32_t op) { return Op(49, uint64_t{op & 3} << 32); }
// SYNC_ADD64 of pair `data` at pair `addr`, propagating the error state.
inline uint64_t SyncAdd64Propagate(uint32_t data, uint32_t addr) {
  return Op(51, uint64_t{addr} << 40 | uint64_t{data} << 32 | 1);
}
// RUN_COMPUTE with SRT/SPD/TSD/FAU select 0, progress counted when `progress`.
inline uint64_t RunCompute(bool progress) { return Op(4, uint64_t{progress} << 32); }
// RUN_IDVS with the position shader's resources (select 0), allocating
// vertex outputs in the heap when `malloc`.
inline uint64_t RunIdvs(bool malloc) { return Op(6, uint64_t{malloc} << 33); }
inline uint64_t RunFragment() { return Op(7, 0); }
inline uint64_t FinishTiling() { return Op(9, 0); }
// FINISH_FRAGMENT of the chunks from pair `first` to pair `last`.
inline uint64_t FinishFragment(bool frag_end, uint32_t first, uint32_t last) {
  return Op(11, uint64_t{first} << 40 | uint64_t{last} << 32 | uint64_t{frag_end});
}
inline uint64_t HeapSet(uint32_t addr) { return Op(48, uint64_t{addr} << 40); }
// SET_EXCEPTION_HANDLER for the tiler OOM: the buffer at pair `addr`, `len` register bytes.
inline uint64_t SetOomHandler(uint32_t addr, uint32_t len) {
  return Op(25, uint64_t{addr} << 40 | uint64_t{len} << 32 | 2);
}

}  // namespace faultlab::dev::testing::cs

#endif  // FAULTLAB_ENGINE_DEV_CS_WORDS_H_
