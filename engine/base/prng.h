// Prng: the engine's one source of randomness, seeded and reproducible.
//
// xoshiro256** (Blackman & Vigna, 2018) seeded through splitmix64. The output
// sequence depends only on the seed, on every machine and architecture: no
// hardware entropy source, no standard-library distributions (whose
// algorithms are implementation-defined), no floating point.
//
//   faultlab::Prng prng(42);
//   uint64_t x = prng.Next();
//   uint64_t die = prng.Uniform(6);         // 0..5, unbiased
//   uint64_t ns = prng.Range(1000, 2000);   // inclusive
#ifndef FAULTLAB_ENGINE_BASE_PRNG_H_
#define FAULTLAB_ENGINE_BASE_PRNG_H_

#include <cstdint>

namespace faultlab {

class Prng {
 public:
  explicit Prng(uint64_t seed) {
    uint64_t x = seed;
    for (uint64_t& s : state_) s = SplitMix64(x);
  }

  // The next 64 random bits.
  uint64_t Next() {
    const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = Rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, n); n == 0 returns 0. Lemire's multiply-shift with
  // rejection, so the result is unbiased and the same on every platform.
  uint64_t Uniform(uint64_t n) {
    if (n == 0) return 0;
    unsigned __int128 m = static_cast<unsigned __int128>(Next()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = -n % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(Next()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  // Uniform in [lo, hi] (inclusive); requires lo <= hi.
  uint64_t Range(uint64_t lo, uint64_t hi) {
    if (hi - lo == UINT64_MAX) return Next();
    return lo + Uniform(hi - lo + 1);
  }

  // The sum of `n` Range(lo, hi) draws, drawn as those calls would be (a
  // job's pages each draw their access cost: a loop with nothing else in it).
  uint64_t SumOfRanges(uint64_t lo, uint64_t hi, uint64_t n) {
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; ++i) sum += Range(lo, hi);
    return sum;
  }

  // True with probability numerator / denominator (integers only).
  bool Chance(uint64_t numerator, uint64_t denominator) { return Uniform(denominator) < numerator; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t SplitMix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  uint64_t state_[4];
};

}  // namespace faultlab

#endif  // FAULTLAB_ENGINE_BASE_PRNG_H_
