#include "engine/trace/text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace faultlab::trace {
namespace {

using ::testing::HasSubstr;

TEST(TextTest, FormatsAFault) {
  Event e;
  e.kind = EVENT_MMU_FAULT;
  e.virtual_ns = 1234;
  e.fault.as = 1;
  e.fault.vm = 2;
  e.fault.address = 0x800010000;
  e.fault.status = 0x010006c3;
  e.fault.outcome = FAULT_ENOMEM;
  e.fault.latency_ns = 5000;
  e.fault.latency_source = LATENCY_MODELLED;
  EXPECT_EQ(FormatEvent(7, e),
            "      7 t=1234 mmu_fault as=1 vm=2 addr=0x800010000 status=0x010006c3 "
            "(exception=0xc3 access=2 decoder source=0x100) outcome=enomem pages=0 pt_pages=0 "
            "metadata=0 latency_ns=5000 (modelled)");
}

TEST(TextTest, SummaryQuantilesAreExactNearestRank) {
  TraceSummary s;
  Event e;
  e.kind = EVENT_MMU_FAULT;
  for (uint64_t ns : {500, 1500, 3000, 3000, 100000}) {
    e.fault.latency_ns = ns;
    e.fault.outcome = FAULT_HANDLED;
    s.Add(e);
  }
  EXPECT_EQ(s.count(EVENT_MMU_FAULT), 5u);
  EXPECT_EQ(s.LatencyQuantileNs(500), 3000u);    // rank 3 of 5
  EXPECT_EQ(s.LatencyQuantileNs(990), 100000u);  // rank 5
  EXPECT_EQ(s.LatencyQuantileNs(100), 500u);     // rank 1
  ReaderStats r;
  r.bytes = 1000;
  EXPECT_THAT(s.Format(r), HasSubstr("bytes_per_event: 200.00\n"));
  EXPECT_THAT(s.Format(r), HasSubstr("faults.handled: 5\n"));
}

}  // namespace
}  // namespace faultlab::trace
