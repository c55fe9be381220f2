#include "engine/profiles/profile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "engine/profiles/profile_data.h"

namespace faultlab::profiles {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ProfileTest, BuiltinsLoadAndSayWhetherTheyAreApproximate) {
  EXPECT_THAT(BuiltinProfileIds(), ElementsAre("g310", "g610", "g925"));
  for (const std::string& id : BuiltinProfileIds()) {
    absl::StatusOr<Profile> p = LoadProfile(id);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->id, id);
    EXPECT_EQ(p->va_bits(), 48u);
    EXPECT_EQ(p->pa_bits(), 40u);
    EXPECT_EQ(p->as_count(), 8u);
  }
  absl::StatusOr<Profile> g610 = LoadProfile("g610");
  EXPECT_EQ(g610->gpu_info.gpu_id, 0xa8670005u);
  EXPECT_EQ(g610->ram_bytes, 8ULL << 30);
  EXPECT_EQ(g610->gpu_info.gpu_id >> 28, 10u) << "arch_major 10 (Valhall CSF)";
  EXPECT_TRUE(LoadProfile("g310")->approximate());
  EXPECT_THAT(LoadProfile("g310")->invented, ::testing::Contains("gpu_id"));
}

TEST(ProfileTest, UnknownProfileListsTheKnownOnes) {
  absl::StatusOr<Profile> p = LoadProfile("g999");
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(p.status().message()),
              HasSubstr("unknown profile 'g999' (built in: g310, g610, g925)"));
}

TEST(ProfileTest, ParseErrorsNameTheLine) {
  EXPECT_THAT(std::string(ParseProfile("id = x\nbogus = 1\n", "f.profile").status().message()),
              HasSubstr("f.profile:2: unknown key 'bogus'"));
  EXPECT_THAT(std::string(ParseProfile("id = x\nid = y\n", "f").status().message()),
              HasSubstr("f:2: 'id' given twice"));
  EXPECT_THAT(std::string(ParseProfile("gpu_id = 0xzz\n", "f").status().message()),
              HasSubstr("f:1: bad value for 'gpu_id'"));
  EXPECT_THAT(std::string(ParseProfile("just words\n", "f").status().message()),
              HasSubstr("f:1: expected 'key = value'"));
  EXPECT_THAT(std::string(ParseProfile("id = x\n", "f").status().message()),
              HasSubstr("missing key"));
}

TEST(ProfileTest, TheJobTimeoutIsOptional) {
  std::string g610;
  for (const BuiltinProfile& b : BuiltinProfiles()) {
    if (std::string(b.file_name) == "g610.profile") g610 = b.text;
  }
  ASSERT_FALSE(g610.empty());
  absl::StatusOr<Profile> p = ParseProfile(g610, "g610");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->job_timeout_ns, 5'000'000'000u) << "panthor's JOB_TIMEOUT_MS";
  p = ParseProfile(g610 + "job_timeout_ms = 100\n", "g610");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->job_timeout_ns, 100'000'000u);
  for (const char* bad : {"0", "3600001", "soon"}) {
    EXPECT_THAT(
        std::string(ParseProfile(g610 + "job_timeout_ms = " + bad + "\n", "f").status().message()),
        HasSubstr("bad value for 'job_timeout_ms'"))
        << bad;
  }
}

TEST(ProfileTest, AFixedCostDrawsNothingFromThePrng) {
  absl::StatusOr<Profile> g610 = LoadProfile("g610");
  ASSERT_TRUE(g610.ok());
  EXPECT_EQ(g610->cost.bind_job.min_ns, 2300u);
  EXPECT_EQ(g610->cost.bind_job.max_ns, 2300u);
  Prng a(7), b(7);
  EXPECT_EQ(g610->cost.bind_job.Draw(a), 2300u);
  EXPECT_EQ(a.Next(), b.Next()) << "the sequence is untouched";
  const uint64_t ns = g610->cost.irq_entry.Draw(a);
  EXPECT_GE(ns, g610->cost.irq_entry.min_ns);
  EXPECT_LE(ns, g610->cost.irq_entry.max_ns);
  EXPECT_NE(a.Next(), b.Next()) << "a range draws";
}

}  // namespace
}  // namespace faultlab::profiles
