// The one parser of settings: what-if keys, recording settings and a trace
// header's values, each refused with a message naming the key.
#include "engine/replay/what_if.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/replay/config.h"

namespace faultlab::replay {
namespace {

using ::testing::HasSubstr;

std::string Error(const std::vector<std::string>& kvs) {
  absl::StatusOr<WhatIf> w = ParseWhatIfArgs(kvs);
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(w.status().message());
}

TEST(WhatIfTest, EveryKeyParsesItsValues) {
  absl::StatusOr<WhatIf> w =
      ParseWhatIfArgs({"profile=g310", "variant=series-v3", "policy=pool:064", "budget=64M",
                       "granularity=2M", "thp=within_size"});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(*w->profile, "g310");
  EXPECT_EQ(*w->variant, Variant::kSeriesV3);
  EXPECT_EQ(*w->policy, "pool:64") << "canonical";
  EXPECT_EQ(*w->budget_bytes, 64ULL << 20);
  EXPECT_EQ(*w->granularity_bytes, 2ULL << 20);
  EXPECT_EQ(*w->thp, mem::ThpMode::kWithinSize);
  EXPECT_FALSE(w->empty());
  EXPECT_TRUE(WhatIf().empty());
  EXPECT_EQ(WhatIfKeyList(),
            "profile, variant, policy, budget, granularity, thp, aof, aof_granularity");
}

TEST(WhatIfTest, BadInputIsRefusedNamingTheKey) {
  EXPECT_THAT(Error({"colour=blue"}), HasSubstr("unknown what-if key 'colour' (profile, variant"));
  EXPECT_THAT(Error({"budget"}), HasSubstr("expected key=value"));
  EXPECT_THAT(Error({"=5"}), HasSubstr("expected key=value"));
  EXPECT_THAT(Error({"budget=lots"}), HasSubstr("budget 'lots': 'lots' is not a size"));
  EXPECT_THAT(Error({"budget=1048576G"}), HasSubstr("more than the twin models"));
  EXPECT_THAT(Error({"budget=99999999999999999999"}), HasSubstr("not a size"));
  EXPECT_THAT(Error({"budget=-1"}), HasSubstr("not a size"));
  EXPECT_THAT(Error({"granularity=3K"}), HasSubstr("granularity '3K': must be a power of two"));
  EXPECT_THAT(Error({"granularity=4G"}), HasSubstr("must be a power of two, >= 4K, < 4G"));
  EXPECT_THAT(Error({"profile=g999"}), HasSubstr("profile 'g999': unknown profile"));
  EXPECT_THAT(Error({"variant=series-v9"}), HasSubstr("series-fixed, series-v3 or mainline"));
  EXPECT_THAT(Error({"policy=retry"}), HasSubstr("unknown policy 'retry'"));
  EXPECT_THAT(Error({"thp=always"}), HasSubstr("never or within_size"));
  EXPECT_THAT(Error({"budget=1G", "budget=2G"}), HasSubstr("'budget' given twice"));
}

TEST(WhatIfTest, AofSelectorsParseAndMatch) {
  absl::StatusOr<AofSelector> all = ParseAofSelector("all");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Matches(4096, 0, nullptr));
  absl::StatusOr<AofSelector> big = ParseAofSelector("size>=2M+heap");
  ASSERT_TRUE(big.ok());
  EXPECT_TRUE(big->Matches(2 << 20, 1, nullptr));
  EXPECT_FALSE(big->Matches(2 << 20, 0, nullptr)) << "mappable";
  EXPECT_FALSE(big->Matches((2 << 20) - 4096, 1, nullptr)) << "too small";
  absl::StatusOr<AofSelector> band = ParseAofSelector("size>64K+size<1M");
  ASSERT_TRUE(band.ok());
  EXPECT_FALSE(band->Matches(64 * 1024, 0, nullptr));
  EXPECT_TRUE(band->Matches(68 * 1024, 0, nullptr));
  EXPECT_FALSE(band->Matches(1 << 20, 0, nullptr));
  EXPECT_TRUE(ParseAofSelector("size<=4K")->Matches(4096, 0, nullptr));
  const std::string vertex = "vertex buffer", texture = "texture";
  absl::StatusOr<AofSelector> exact = ParseAofSelector("label=texture");
  ASSERT_TRUE(exact.ok());
  EXPECT_TRUE(exact->Matches(4096, 0, &texture));
  EXPECT_FALSE(exact->Matches(4096, 0, &vertex));
  EXPECT_FALSE(exact->Matches(4096, 0, nullptr)) << "no label";
  absl::StatusOr<AofSelector> prefix = ParseAofSelector("label=vert*");
  ASSERT_TRUE(prefix.ok());
  EXPECT_TRUE(prefix->Matches(4096, 0, &vertex));
  EXPECT_FALSE(prefix->Matches(4096, 0, &texture));
  for (const char* bad : {"", "bogus", "size=2M", "size>=lots", "size<0", "size>2M+size<1M",
                          "label=", "label=a+label=b"}) {
    EXPECT_FALSE(ParseAofSelector(bad).ok()) << bad;
  }
  WhatIf w;
  ASSERT_TRUE(SetWhatIf("aof", "size>=2M", &w).ok());
  EXPECT_EQ(w.aof->text, "size>=2M");
  EXPECT_FALSE(w.empty());
  absl::Status twice = SetWhatIf("aof", "all", &w);
  EXPECT_NE(twice.message().find("given twice"), absl::string_view::npos);
  ASSERT_TRUE(SetWhatIf("aof_granularity", "64K", &w).ok());
  EXPECT_EQ(*w.aof_granularity_bytes, 64u * 1024);
  WhatIf g;
  EXPECT_FALSE(SetWhatIf("aof_granularity", "3K", &g).ok());
  absl::Status s = SetWhatIf("aof", "bogus", &g);
  EXPECT_NE(s.message().find("aof 'bogus'"), absl::string_view::npos) << s;
}

TEST(WhatIfTest, SizesAcceptUnitsAndHex) {
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("0x1000"), 4096u);
  EXPECT_EQ(*ParseSize("4k"), 4096u);
  EXPECT_EQ(*ParseSize("2G"), 2ULL << 30);
  EXPECT_EQ(*ParseSize("1T"), 1ULL << 40);
  for (const char* bad : {"", "M", "0x", "1.5G", "+5", " 5", "5 ", "99999999999T"}) {
    EXPECT_FALSE(ParseSize(bad).ok()) << "'" << bad << "'";
  }
}

trace::TraceHeader Header(std::vector<std::pair<std::string, std::string>> config) {
  trace::TraceHeader h = MakeHeader(DefaultConfig(), "compute", "b", std::string(16, 'x'), 0);
  for (const auto& [k, v] : config) {
    bool replaced = false;
    for (trace::ConfigEntry& e : *h.mutable_config()) {
      if (e.key() == k) e.set_value(v), replaced = true;
    }
    if (!replaced) {
      trace::ConfigEntry* e = h.add_config();
      e->set_key(k);
      e->set_value(v);
    }
  }
  return h;
}

TEST(ConfigTest, AHeaderRoundTripsThroughItsConfig) {
  dev::DeviceConfig c = DefaultConfig();
  c.variant = Variant::kSeriesV3;
  c.policy = "pool:32";
  c.budget_bytes = 256ULL << 20;
  c.thp = mem::ThpMode::kWithinSize;
  c.seed = 77;
  c.pressure.enabled = true;
  c.pressure.fail_permille = 30;
  c.fault_cost_permille = 1300;
  absl::StatusOr<dev::DeviceConfig> back = ConfigFromHeader(MakeHeader(c, "game", "b", "id", 0, 3));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->variant, c.variant);
  EXPECT_EQ(back->policy, c.policy);
  EXPECT_EQ(back->budget_bytes, c.budget_bytes);
  EXPECT_EQ(back->thp, c.thp);
  EXPECT_EQ(back->seed, 77u);
  EXPECT_TRUE(back->pressure.enabled);
  EXPECT_EQ(back->pressure.fail_permille, 30u);
  EXPECT_EQ(back->fault_cost_permille, 1300u);
  EXPECT_EQ(*HeaderFrames(MakeHeader(c, "game", "b", "id", 0, 3)), 3u);
}

TEST(ConfigTest, ADamagedHeaderIsDataLossNamingTheKey) {
  const std::pair<std::pair<const char*, const char*>, const char*> cases[] = {
      {{"budget", "18446744073709551615"}, "budget '18446744073709551615'"},
      {{"budget", "lots"}, "budget 'lots'"},
      {{"thp", "sometimes"}, "thp 'sometimes'"},
      {{"pressure", "maybe"}, "pressure 'maybe'"},
      {{"pressure.fail_permille", "1001"}, "pressure.fail_permille '1001'"},
      {{"pressure.tenant_min_permille", "x"}, "pressure.tenant_min_permille 'x'"},
      {{"v3_tick_race_permille", "-3"}, "v3_tick_race_permille '-3'"},
      {{"fault_cost_permille", "0"}, "fault_cost_permille '0'"},
      {{"frames", "many"}, "frames 'many'"},
  };
  for (const auto& [kv, want] : cases) {
    trace::TraceHeader h = Header({kv});
    absl::Status s = ConfigFromHeader(h).status();
    if (s.ok()) s = HeaderFrames(h).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << kv.first;
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::string("trace header: ") + want))
        << kv.first;
  }
  trace::TraceHeader h = Header({});
  h.set_policy("pool:many");
  EXPECT_EQ(ConfigFromHeader(h).status().code(), absl::StatusCode::kDataLoss);
  h = Header({{"pressure.tenant_min_permille", "900"}, {"pressure.tenant_max_permille", "100"}});
  EXPECT_EQ(ConfigFromHeader(h).status().code(), absl::StatusCode::kDataLoss);
}

TEST(ConfigTest, KeysTheTwinDoesNotReadAreLeftAlone) {
  absl::StatusOr<dev::DeviceConfig> c = ConfigFromHeader(
      Header({{"driver_version", "1.7.0"}, {"label.rack", "r3"}, {"gpu_id", "0xa8670005"}}));
  EXPECT_TRUE(c.ok()) << c.status();
}

TEST(ConfigTest, RecordingSettingsOverTheDefaults) {
  absl::StatusOr<dev::DeviceConfig> c = RecordingConfig("compute", {}, false);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->profile.id, "g610");
  EXPECT_EQ(c->variant, Variant::kSeriesFixed);
  EXPECT_EQ(c->policy, "noretry");
  EXPECT_EQ(c->budget_bytes, 0u) << "the profile's RAM";
  c = RecordingConfig("pressure", {}, false);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->pressure.enabled) << "the workload wants it";
  EXPECT_EQ(c->budget_bytes, 512ULL << 20);
  EXPECT_EQ(RecordingConfig("nope", {}, false).status().code(), absl::StatusCode::kInvalidArgument);
  WhatIf g;
  g.granularity_bytes = 65536;
  EXPECT_EQ(RecordingConfig("compute", g, false).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace faultlab::replay
