// The kernel-log parser on recorded text (testdata/): panthor's
// unhandled-fault reports in dmesg and /dev/kmsg form; malformed lines are
// counted, never fatal; the twin's own kernel-log lines parse back to what
// it reported.
#include "lib/collect/kernel_log.h"

#include <gtest/gtest.h>

#include "engine/mmu/mmu.h"
#include "lib/collect/testdata.h"

namespace faultlab::collect {
namespace {

TEST(KernelLogTest, DmesgFaultsWithContinuationLinesAndMalformedOnes) {
  KernelLog log = ParseKernelLog(testing::Fixture("dmesg.txt"));
  ASSERT_EQ(log.faults.size(), 2u);
  EXPECT_EQ(log.faults[0].as, 0);
  EXPECT_EQ(log.faults[0].va, 0x12345000u);
  EXPECT_EQ(log.faults[0].status, 0x7c2u);
  EXPECT_EQ(log.faults[0].exception, 0xc2u);
  EXPECT_EQ(log.faults[0].time_ns, 5678901234000u);
  EXPECT_EQ(log.faults[0].device, "fb000000.gpu");
  EXPECT_EQ(log.faults[1].as, 1);
  EXPECT_EQ(log.faults[1].va, 0xffff0000u);
  EXPECT_EQ(log.faults[1].status, 0x4c8u);
  EXPECT_EQ(log.malformed, 2u);  // "ASx", "VA zzzz"
  EXPECT_EQ(log.lines, 14u);
}

TEST(KernelLogTest, KmsgRecordsWithEscapedNewlines) {
  KernelLog log = ParseKernelLog(testing::Fixture("kmsg.txt"));
  ASSERT_EQ(log.faults.size(), 2u);
  EXPECT_EQ(log.faults[0].as, 3);
  EXPECT_EQ(log.faults[0].va, 0x200100000u);
  EXPECT_EQ(log.faults[0].status, 0x10007c3u);
  EXPECT_EQ(log.faults[0].time_ns, 5680000000000u);
  EXPECT_FALSE(log.faults[1].has_status);
  EXPECT_EQ(log.malformed, 1u);  // "0xNOTHEX"
}

TEST(KernelLogTest, TheTwinsOwnLinesParseBack) {
  std::string text;
  for (int as : {0, 5}) {
    for (char c : mmu::FormatFaultLog(as, 0x4000'0000ULL + as, 0x7c0u + as)) text += c;
  }
  KernelLog log = ParseKernelLog(text);
  ASSERT_EQ(log.faults.size(), 2u);
  EXPECT_EQ(log.faults[1].as, 5);
  EXPECT_EQ(log.faults[1].va, 0x4000'0005u);
  EXPECT_EQ(log.faults[1].status, 0x7c5u);
}

TEST(KernelLogTest, EmptyAndHostileInputAreNotFatal) {
  EXPECT_TRUE(ParseKernelLog("").faults.empty());
  std::string junk(100000, '\xff');
  junk += "\n[ 1.0] Unhandled Page fault in AS\n;;;\n0,0,notanumber,-;x\n";
  KernelLog log = ParseKernelLog(junk);
  EXPECT_TRUE(log.faults.empty());
  EXPECT_EQ(log.malformed, 1u);
}

}  // namespace
}  // namespace faultlab::collect
