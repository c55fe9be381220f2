#include "engine/usermem/sim_user_memory.h"

#include <gtest/gtest.h>

#include <cstring>

#include "engine/uapi/errno.h"

namespace faultlab {
namespace {

TEST(SimUserMemoryTest, CopiesWithinAndAcrossAdjacentRegions) {
  SimUserMemory mem;
  mem.Map(0x1000, 0x1000);
  mem.Map(0x2000, 0x1000);
  const char msg[] = "spans two regions";
  ASSERT_EQ(mem.CopyToUser(0x1ff8, msg, sizeof(msg)), 0);
  char back[sizeof(msg)] = {};
  ASSERT_EQ(mem.CopyFromUser(back, 0x1ff8, sizeof(back)), 0);
  EXPECT_STREQ(back, msg);
}

TEST(SimUserMemoryTest, UnmappedAndProtectedAddressesFault) {
  SimUserMemory mem;
  mem.Map(0x1000, 0x1000, SimUserMemory::kRead);
  char b[16] = {};
  EXPECT_EQ(mem.CopyFromUser(b, 0, 1), -uapi::kEFAULT);          // NULL
  EXPECT_EQ(mem.CopyFromUser(b, 0x1ff8, 16), -uapi::kEFAULT);    // runs off the end
  EXPECT_EQ(mem.CopyToUser(0x1000, b, 1), -uapi::kEFAULT);       // read-only
  EXPECT_EQ(mem.CopyFromUser(b, ~0ULL - 3, 8), -uapi::kEFAULT);  // wraps
  EXPECT_EQ(mem.CopyFromUser(b, 0x1000, 16), 0);
  EXPECT_EQ(mem.CopyFromUser(b, 0x5000, 0), 0);  // zero bytes never fault
  EXPECT_EQ(mem.faults(), 4u);
}

TEST(SimUserMemoryTest, PartialCopyToUserWritesUpToTheFault) {
  SimUserMemory mem;
  mem.Map(0x1000, 0x1000);
  const char data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(mem.CopyToUser(0x1ffc, data, 8), -uapi::kEFAULT);
  EXPECT_EQ(mem.Get<uint32_t>(0x1ffc), 0x04030201u);
}

TEST(SimUserMemoryTest, AllocLeavesGuardPages) {
  SimUserMemory mem;
  const uint64_t a = mem.Alloc(100);
  const uint64_t b = mem.Alloc(4096);
  EXPECT_EQ(b, a + 8192);
  char c = 0;
  EXPECT_EQ(mem.CopyFromUser(&c, a + 4096, 1), -uapi::kEFAULT);
  EXPECT_EQ(mem.ClearUser(a, 4096), 0);
  EXPECT_EQ(mem.ClearUser(a, 4097), -uapi::kEFAULT);
}

}  // namespace
}  // namespace faultlab
