// BlockSet: a set of block numbers in [0, n) with the lowest member found in
// a few word reads: a bitmap per level, each bit of a level saying whether
// the 64 bits under it hold any member. The memory model keeps its partly
// used and its empty 2 MiB blocks in two of these (a std::set took a node
// allocation per block: 4,096 of them for each 8 GiB device a replay made).
//
//   BlockSet s(4096);
//   s.Insert(70); s.Insert(3);
//   s.First();  // 3
#ifndef FAULTLAB_ENGINE_MEM_BLOCK_SET_H_
#define FAULTLAB_ENGINE_MEM_BLOCK_SET_H_

#include <cstdint>
#include <vector>

namespace faultlab::mem {

class BlockSet {
 public:
  explicit BlockSet(uint32_t n) {
    uint64_t words = (static_cast<uint64_t>(n) + 63) / 64;
    do {
      levels_.emplace_back(words == 0 ? 1 : words, 0);
      words = (words + 63) / 64;
    } while (levels_.back().size() > 1);
  }

  bool empty() const { return levels_.back()[0] == 0; }
  bool Contains(uint32_t b) const { return (levels_[0][b / 64] >> (b % 64)) & 1; }

  void Insert(uint32_t b) {
    for (std::vector<uint64_t>& level : levels_) {
      const bool had = level[b / 64] != 0;
      level[b / 64] |= uint64_t{1} << (b % 64);
      if (had) return;  // the levels above already say so
      b /= 64;
    }
  }

  void Erase(uint32_t b) {
    for (std::vector<uint64_t>& level : levels_) {
      level[b / 64] &= ~(uint64_t{1} << (b % 64));
      if (level[b / 64] != 0) return;  // still a member under it
      b /= 64;
    }
  }

  // The lowest member; the set must not be empty.
  uint32_t First() const {
    uint64_t at = 0;
    for (size_t l = levels_.size(); l-- > 0;) {
      at = at * 64 + static_cast<uint64_t>(__builtin_ctzll(levels_[l][at]));
    }
    return static_cast<uint32_t>(at);
  }

 private:
  std::vector<std::vector<uint64_t>> levels_;  // [0]: a bit per block
};

}  // namespace faultlab::mem

#endif  // FAULTLAB_ENGINE_MEM_BLOCK_SET_H_
