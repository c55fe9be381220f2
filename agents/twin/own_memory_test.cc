// Reads and writes of the process's own memory as copy_{from,to}_user would:
// in place on the caller's stack, by process_vm_readv/writev, and by the
// pipe qemu-user falls back to — whole
// copies across chunks, false on an unmapped or read-only end, and a pipe
// left empty after a failed copy.
#include "agents/twin/own_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <numeric>
#include <vector>

namespace faultlab::twin {
namespace {

class OwnMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* p = mmap(nullptr, 3 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    base_ = static_cast<char*>(p);
    ASSERT_EQ(mprotect(base_ + page_, page_, PROT_NONE), 0);      // unmapped, as it were
    ASSERT_EQ(mprotect(base_ + 2 * page_, page_, PROT_READ), 0);  // read-only
  }
  void TearDown() override { munmap(base_, 3 * page_); }
  uint64_t At(size_t off) const { return reinterpret_cast<uint64_t>(base_ + off); }

  size_t page_ = 0;
  char* base_ = nullptr;
};

TEST_F(OwnMemoryTest, CopiesWholeRangesBothWays) {
  std::vector<char> big(100 << 10), back(big.size());
  std::iota(big.begin(), big.end(), 0);
  EXPECT_TRUE(internal::ThroughPipe(back.data(), big.data(), big.size())) << "over 3 chunks";
  EXPECT_EQ(back, big);
  const char hello[] = "hello";
  ASSERT_TRUE(WriteOwn(At(0), hello, sizeof hello));
  char got[sizeof hello] = {};
  ASSERT_TRUE(ReadOwn(got, At(0), sizeof got));
  EXPECT_STREQ(got, "hello");
}

TEST_F(OwnMemoryTest, TheCallersStackIsCopiedInPlace) {
  // Where ioctl arguments usually are: above the copy's own frame.
  struct {
    uint64_t handle = 0;
    char name[24] = "on the stack";
  } arg;
  char got[24] = {};
  ASSERT_TRUE(ReadOwn(got, reinterpret_cast<uint64_t>(arg.name), sizeof got));
  EXPECT_STREQ(got, "on the stack");
  const uint64_t handle = 7;
  ASSERT_TRUE(WriteOwn(reinterpret_cast<uint64_t>(&arg.handle), &handle, sizeof handle));
  EXPECT_EQ(arg.handle, 7u);
}

TEST_F(OwnMemoryTest, AnUnusableEndIsAFailureNotASignal) {
  char buf[64] = {};
  EXPECT_FALSE(ReadOwn(buf, At(page_), sizeof buf));
  EXPECT_FALSE(WriteOwn(At(page_), buf, sizeof buf));
  EXPECT_FALSE(WriteOwn(At(2 * page_), buf, sizeof buf)) << "read-only";
  EXPECT_FALSE(internal::ThroughPipe(buf, base_ + page_, sizeof buf));
  EXPECT_FALSE(internal::ThroughPipe(base_ + 2 * page_, buf, sizeof buf));
  // The failed copies left nothing in the pipe: the next one is exact.
  const char word[] = "after";
  char got[sizeof word] = {};
  EXPECT_TRUE(internal::ThroughPipe(got, word, sizeof word));
  EXPECT_STREQ(got, "after");
  // A copy that straddles into the unusable page fails as a whole.
  EXPECT_FALSE(internal::ThroughPipe(buf, base_ + page_ - 8, sizeof buf));
  EXPECT_TRUE(internal::ThroughPipe(got, word, sizeof word));
}

}  // namespace
}  // namespace faultlab::twin
