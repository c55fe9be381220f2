// Runtime PM and devfreq: the GPU suspends 50 ms after its last job and
// resumes with the next; under sustained load simple_ondemand holds the top
// OPP, idle it falls to the lowest, a light load lands in between; the
// transition table and times add up; an hour idle costs no more than a poll.
#include "engine/pm/power.h"

#include <gtest/gtest.h>

#include <numeric>

namespace faultlab::pm {
namespace {

constexpr uint64_t kMs = 1'000'000;
const std::vector<uint64_t> kRk3588 = {300'000'000, 400'000'000, 500'000'000, 600'000'000,
                                       700'000'000, 800'000'000, 900'000'000, 1'000'000'000};

TEST(PowerTest, SuspendsWhenIdleAndResumesOnWork) {
  Power p(kRk3588);
  EXPECT_FALSE(p.At(49 * kMs).suspended) << "within the autosuspend delay";
  EXPECT_TRUE(p.At(50 * kMs).suspended);
  p.SetBusy(true, 100 * kMs);
  EXPECT_FALSE(p.At(100 * kMs).suspended) << "a job resumes it";
  p.SetBusy(false, 130 * kMs);
  EXPECT_FALSE(p.At(170 * kMs).suspended);
  const Power::Snapshot s = p.At(200 * kMs);
  EXPECT_TRUE(s.suspended);
  EXPECT_EQ(s.active_ms, 50u + 30u + 50u);
  EXPECT_EQ(s.suspended_ms, 50u + 20u);
}

TEST(PowerTest, FrequencyFollowsTheLoad) {
  Power p(kRk3588);
  EXPECT_EQ(p.At(0).cur_hz, 1'000'000'000u) << "the boot OPP: assumed the top";
  // Idle: each poll scales the frequency by the (zero) load: the lowest OPP.
  EXPECT_EQ(p.At(1000 * kMs).cur_hz, 300'000'000u);
  // Sustained load: past the 45 % upthreshold, the top OPP at the next poll.
  p.SetBusy(true, 1000 * kMs);
  EXPECT_EQ(p.At(1049 * kMs).cur_hz, 300'000'000u) << "no poll yet";
  EXPECT_EQ(p.At(1050 * kMs).cur_hz, 1'000'000'000u);
  // A 42 % window keeps the frequency (between 40 and 45 %)...
  p.SetBusy(false, 1050 * kMs + 21 * kMs);
  EXPECT_EQ(p.At(1100 * kMs).cur_hz, 1'000'000'000u);
  // ... a 20 % one asks for 20 % * 1 GHz / 43 % = 465 MHz: the 500 MHz OPP.
  p.SetBusy(true, 1100 * kMs);
  p.SetBusy(false, 1110 * kMs);
  EXPECT_EQ(p.At(1150 * kMs).cur_hz, 500'000'000u);
  const Power::Snapshot s = p.At(2000 * kMs);
  EXPECT_EQ(std::accumulate(s.trans.begin(), s.trans.end(), uint64_t{0}), s.total_trans);
  EXPECT_EQ(std::accumulate(s.time_in_state_ms.begin(), s.time_in_state_ms.end(), uint64_t{0}),
            2000u);
}

TEST(PowerTest, AnHourIdleIsAccountedAtOnce) {
  Power p(kRk3588);
  const Power::Snapshot s = p.At(3600'000 * kMs);
  EXPECT_EQ(s.cur_hz, 300'000'000u);
  EXPECT_EQ(s.active_ms + s.suspended_ms, 3600'000u);
  EXPECT_EQ(s.time_in_state_ms[0] + s.time_in_state_ms[7] +
                std::accumulate(s.time_in_state_ms.begin() + 1, s.time_in_state_ms.end() - 1,
                                uint64_t{0}),
            3600'000u);
}

}  // namespace
}  // namespace faultlab::pm
