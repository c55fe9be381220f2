#include "engine/base/hash.h"

#include <gtest/gtest.h>

namespace faultlab {
namespace {

TEST(StateHasherTest, FixedValuesOrderAndLength) {
  StateHasher a;
  a.Add(1);
  a.Add(2);
  StateHasher b;
  b.Add(2);
  b.Add(1);
  EXPECT_NE(a.Finish(), b.Finish()) << "order matters";
  StateHasher c;
  c.Add(1);
  c.Add(2);
  c.Add(uint64_t{0});
  EXPECT_NE(a.Finish(), c.Finish()) << "a trailing zero word changes the hash";
  StateHasher empty;
  StateHasher s;
  s.Add(absl::string_view("faultlab"));
  // Pinned: the algorithm is part of the trace format (state_hash events).
  EXPECT_EQ(empty.Finish(), 0x7876a7fd6506f613ULL);
  EXPECT_EQ(a.Finish(), 0x39e0ec973045b458ULL);
  EXPECT_NE(s.Finish(), empty.Finish());
}

}  // namespace
}  // namespace faultlab
