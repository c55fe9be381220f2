#include "engine/trace/varint.h"

#include <gtest/gtest.h>

#include <limits>

namespace faultlab::trace {
namespace {

TEST(VarintTest, RoundTripsEdges) {
  for (uint64_t v :
       std::initializer_list<uint64_t>{0, 1, 127, 128, 300, (1ULL << 32) - 1, 1ULL << 63,
                                       std::numeric_limits<uint64_t>::max()}) {
    std::string s;
    PutVarint(s, v);
    uint64_t got = 0;
    const char* end = GetVarint(s.data(), s.data() + s.size(), &got);
    ASSERT_EQ(end, s.data() + s.size()) << v;
    EXPECT_EQ(got, v);
  }
}

TEST(VarintTest, SizesAreLeb128) {
  std::string s;
  PutVarint(s, 127);
  EXPECT_EQ(s.size(), 1u);
  s.clear();
  PutVarint(s, 300);
  EXPECT_EQ(s, std::string("\xac\x02"));
  s.clear();
  PutVarint(s, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(s.size(), 10u);
}

TEST(VarintTest, RejectsTruncatedAndOverlong) {
  uint64_t v;
  const std::string truncated = "\x80\x80";
  EXPECT_EQ(GetVarint(truncated.data(), truncated.data() + truncated.size(), &v), nullptr);
  const std::string overlong(11, '\x80');
  EXPECT_EQ(GetVarint(overlong.data(), overlong.data() + overlong.size(), &v), nullptr);
  // Ten bytes whose last carries more than the 64th bit.
  const std::string overflow = std::string(9, '\xff') + "\x02";
  EXPECT_EQ(GetVarint(overflow.data(), overflow.data() + overflow.size(), &v), nullptr);
  EXPECT_EQ(GetVarint(nullptr, nullptr, &v), nullptr);
}

TEST(VarintTest, ZigZag) {
  for (int64_t v :
       std::initializer_list<int64_t>{0, -1, 1, -64, 63, std::numeric_limits<int64_t>::min(),
                                      std::numeric_limits<int64_t>::max()}) {
    EXPECT_EQ(UnZigZag(ZigZag(v)), v);
  }
  EXPECT_EQ(ZigZag(-1), 1u);
  EXPECT_EQ(ZigZag(1), 2u);
}

}  // namespace
}  // namespace faultlab::trace
