// The fault stream's parser on trace_pipe text (testdata/): the older
// duration-only brackets and the fault stream with fetched fields, IRQs
// matched to works by AS, outcomes from report_fault and map_ret;
// malformed and hostile lines are counted, never fatal; what the loopback
// kernel writes (FormatFaultWork) parses back to what it said.
#include "lib/collect/kprobes.h"

#include <gtest/gtest.h>

#include "lib/collect/testdata.h"

namespace faultlab::collect {
namespace {

TEST(KprobesTest, DurationOnlyBracketsStillParse) {
  KprobeTrace t = ParseKprobeTrace(testing::Fixture("trace_pipe.txt"));
  ASSERT_EQ(t.faults.size(), 2u);
  EXPECT_FALSE(t.faults[0].has_fields);
  EXPECT_EQ(t.faults[0].work_ns(), 31000u);
  EXPECT_EQ(t.faults[0].irq_ns, 1234567890000u);  // the IRQ before it (AS unknown)
  EXPECT_EQ(t.faults[0].latency_ns(), 41000u);
  EXPECT_EQ(t.faults[1].work_ns(), 125000u);
  EXPECT_EQ(t.irqs, 2u);
  EXPECT_EQ(t.malformed, 1u);  // the "garbage" timestamp
  EXPECT_EQ(t.unmatched, 2u);  // a return without entry, an entry never returned
}

TEST(KprobesTest, TheFaultStreamCarriesEachFaultsFields) {
  KprobeTrace t = ParseKprobeTrace(testing::Fixture("fault_stream.txt"));
  ASSERT_EQ(t.faults.size(), 3u);
  const KprobeFault& a = t.faults[0];
  EXPECT_TRUE(a.has_fields);
  EXPECT_EQ(a.as, 1);
  EXPECT_EQ(a.va, 0x1000604000u);
  EXPECT_EQ(a.status, 0x10c3u);
  EXPECT_EQ(a.work, 0xffff000012345190u);
  EXPECT_EQ(a.irq_ns, 5000000100000u);  // AS 1's IRQ (status bit 1)
  EXPECT_EQ(a.work_ns(), 31000u);
  EXPECT_EQ(a.latency_ns(), 61000u);
  EXPECT_TRUE(a.has_ret);
  EXPECT_EQ(a.ret, 0);
  EXPECT_FALSE(a.unhandled);
  const KprobeFault& b = t.faults[1];
  EXPECT_EQ(b.as, 2);
  EXPECT_EQ(b.irq_ns, 5000002000000u);  // AS 2's (bit 2)
  EXPECT_TRUE(b.unhandled);
  EXPECT_EQ(b.ret, -12);  // -ENOMEM
  // A second fault of AS 1 with no new IRQ: none is reused.
  const KprobeFault& c = t.faults[2];
  EXPECT_EQ(c.va, 0x1000614000u);
  EXPECT_EQ(c.irq_ns, 0u);
  EXPECT_EQ(c.latency_ns(), 20000u);
  EXPECT_EQ(t.irqs, 2u);
  EXPECT_EQ(t.malformed, 1u);  // status=0xZZ (its report_fault then has no work: unmatched)
  EXPECT_EQ(t.unmatched, 1u);
}

TEST(KprobesTest, ProbeDefinitionsFetchThroughTheWorkArgument) {
  FaultOffsets o{32, 40, -88};
  std::vector<ProbeDef> p = FaultProbes(&o);
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(p[0].line,
            "p:faultlab/fault_work panthor_vm_fault_work work=$arg1:x64 status=+32($arg1):x32 "
            "addr=+40($arg1):x64 as=-88($arg1):s32");
  EXPECT_TRUE(p[0].required);
  EXPECT_FALSE(p[4].required);  // map_ret: a static function, maybe inlined
  EXPECT_EQ(FaultProbes(nullptr)[0].line, "p:faultlab/fault_work panthor_vm_fault_work");
}

TEST(KprobesTest, WhatTheLoopbackKernelWritesParsesBack) {
  std::string text;
  KprobeFault f;
  f.has_fields = true;
  f.work = 0xffff0000abcd0190;
  f.as = 3;
  f.va = 0x7f0000123000;
  f.status = 0x10c3;
  f.irq_ns = 7000000001000;
  f.start_ns = 7000000009000;
  f.end_ns = 7000000052000;
  f.has_ret = true;
  text += FormatFaultWork(f, 900);
  f.unhandled = true;
  f.ret = -14;
  f.irq_ns = 7000001000000;
  f.start_ns = 7000001010000;
  f.end_ns = 7000001020000;
  text += FormatFaultWork(f, 901);
  KprobeTrace t = ParseKprobeTrace(text);
  ASSERT_EQ(t.faults.size(), 2u);
  EXPECT_EQ(t.malformed, 0u);
  EXPECT_EQ(t.faults[0].va, f.va);
  EXPECT_EQ(t.faults[0].work, f.work);
  EXPECT_EQ(t.faults[0].latency_ns(), 51000u);
  EXPECT_FALSE(t.faults[0].unhandled);
  EXPECT_TRUE(t.faults[1].unhandled);
  EXPECT_EQ(t.faults[1].ret, -14);
  EXPECT_EQ(t.faults[1].as, 3);
}

TEST(KprobesTest, HostileInputIsCountedNeverFatal) {
  EXPECT_TRUE(ParseKprobeTrace("").faults.empty());
  std::string junk(100000, '\xff');
  junk += "\n x-1 [0] 1.0: fault_work: (a) status=0x1 addr=0x2 as=99999999999999999999\n";
  junk += " x-1 [0] 1.0: fault_work: (a) ==\n";
  junk += " x-1 [0] 2.0: fault_work_ret: (a)\n";
  KprobeTrace t = ParseKprobeTrace(junk);
  EXPECT_EQ(t.malformed, 2u);
  EXPECT_EQ(t.unmatched, 1u);
}

}  // namespace
}  // namespace faultlab::collect
