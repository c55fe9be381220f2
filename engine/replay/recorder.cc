#include "engine/replay/recorder.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/replay/version.h"

namespace faultlab::replay {

namespace {

void Put(trace::TraceHeader* h, const std::string& key, const std::string& value) {
  trace::ConfigEntry* e = h->add_config();
  e->set_key(key);
  e->set_value(value);
}

std::string Get(const trace::TraceHeader& h, const std::string& key, const std::string& fallback) {
  for (const trace::ConfigEntry& e : h.config()) {
    if (e.key() == key) return e.value();
  }
  return fallback;
}

}  // namespace

absl::StatusOr<uint64_t> ParseSize(const std::string& s) {
  if (s.empty()) return absl::InvalidArgumentError("empty size");
  uint64_t mult = 1;
  std::string num = s;
  switch (s.back()) {
    case 'K': case 'k': mult = 1ULL << 10; num.pop_back(); break;
    case 'M': case 'm': mult = 1ULL << 20; num.pop_back(); break;
    case 'G': case 'g': mult = 1ULL << 30; num.pop_back(); break;
    default: break;
  }
  uint64_t v;
  const bool ok = num.rfind("0x", 0) == 0 ? absl::SimpleHexAtoi(num.substr(2), &v)
                                          : absl::SimpleAtoi(num, &v);
  if (!ok || (mult > 1 && v > (~0ULL) / mult)) {
    return absl::InvalidArgumentError(absl::StrCat("'", s, "' is not a size (e.g. 64M, 2G, 4096)"));
  }
  return v * mult;
}

trace::TraceHeader MakeHeader(const dev::DeviceConfig& c, const std::string& workload,
                              const std::string& board, const std::string& trace_id,
                              int64_t wall_clock_ns, uint32_t frames) {
  trace::TraceHeader h;
  h.set_trace_id(trace_id);
  h.set_board(board);
  h.set_profile(c.profile.id);
  h.set_variant(VariantName(c.variant));
  h.set_policy(dev::FaultPolicyName(c.policy));
  h.set_engine_version(kEngineVersion);
  h.set_model_version(kModelVersion);
  h.set_seed(c.seed);
  h.set_capture_source(trace::CAPTURE_SOURCE_TWIN);
  h.set_wall_clock_start_ns(wall_clock_ns);
  h.set_workload(workload);
  Put(&h, "budget", std::to_string(c.budget_bytes ? c.budget_bytes : c.profile.ram_bytes));
  Put(&h, "thp", mem::ThpModeName(c.thp));
  Put(&h, "pressure", c.pressure.enabled ? "on" : "off");
  Put(&h, "pressure.tenant_min_permille", std::to_string(c.pressure.tenant_min_permille));
  Put(&h, "pressure.tenant_max_permille", std::to_string(c.pressure.tenant_max_permille));
  Put(&h, "pressure.fail_permille", std::to_string(c.pressure.fail_permille));
  Put(&h, "v3_tick_race_permille", std::to_string(c.v3_tick_race_permille));
  if (frames) Put(&h, "frames", std::to_string(frames));
  // Written only when set, so that traces recorded without it stay as they were.
  if (c.fault_cost_permille != 1000) {
    Put(&h, "fault_cost_permille", std::to_string(c.fault_cost_permille));
  }
  return h;
}

absl::StatusOr<dev::DeviceConfig> ConfigFromHeader(const trace::TraceHeader& h,
                                                   const std::vector<WhatIf>& what_if) {
  std::string profile = h.profile(), variant = h.variant(), policy = h.policy();
  std::string budget = Get(h, "budget", "0"), thp = Get(h, "thp", "never");
  for (const WhatIf& w : what_if) {
    if (w.key == "profile") profile = w.value;
    else if (w.key == "variant") variant = w.value;
    else if (w.key == "policy") policy = w.value;
    else if (w.key == "budget") budget = w.value;
    else if (w.key == "thp") thp = w.value;
    else if (w.key != "granularity") {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown what-if key '", w.key, "' (profile, variant, policy, budget, granularity, thp)"));
    }
  }
  absl::StatusOr<dev::Profile> p = dev::LoadProfile(profile);
  if (!p.ok()) return p.status();
  dev::DeviceConfig c;
  c.profile = *p;
  auto v = ParseVariant(variant);
  if (!v) return absl::InvalidArgumentError(absl::StrCat("unknown variant '", variant, "'"));
  c.variant = *v;
  auto pol = dev::ParseFaultPolicy(policy);
  if (!pol) return absl::InvalidArgumentError(absl::StrCat("unknown policy '", policy, "'"));
  c.policy = *pol;
  absl::StatusOr<uint64_t> b = ParseSize(budget);
  if (!b.ok()) return b.status();
  c.budget_bytes = *b;
  if (thp == "within_size") {
    c.thp = mem::ThpMode::kWithinSize;
  } else if (thp != "never") {
    return absl::InvalidArgumentError(absl::StrCat("unknown thp mode '", thp, "' (never, within_size)"));
  }
  c.seed = h.seed();
  c.pressure.enabled = Get(h, "pressure", "off") == "on";
  uint64_t n;
  if (absl::SimpleAtoi(Get(h, "pressure.tenant_min_permille", ""), &n)) c.pressure.tenant_min_permille = n;
  if (absl::SimpleAtoi(Get(h, "pressure.tenant_max_permille", ""), &n)) c.pressure.tenant_max_permille = n;
  if (absl::SimpleAtoi(Get(h, "pressure.fail_permille", ""), &n)) c.pressure.fail_permille = n;
  if (absl::SimpleAtoi(Get(h, "v3_tick_race_permille", ""), &n)) c.v3_tick_race_permille = n;
  if (absl::SimpleAtoi(Get(h, "fault_cost_permille", ""), &n)) c.fault_cost_permille = n;
  return c;
}

absl::StatusOr<dev::DeviceConfig> RecordingConfig(const std::string& workload,
                                                  const std::vector<WhatIf>& settings, bool pressure) {
  const workload::WorkloadInfo* info = workload::FindWorkload(workload);
  if (info == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown workload '", workload, "'"));
  trace::TraceHeader base;
  base.set_profile(dev::kDefaultProfile);
  base.set_variant("series-fixed");
  base.set_policy("noretry");
  absl::StatusOr<dev::DeviceConfig> cfg = ConfigFromHeader(base, settings);
  if (!cfg.ok()) return absl::InvalidArgumentError(cfg.status().message());
  cfg->pressure.enabled = pressure || info->wants_pressure;
  bool budget_given = false;
  for (const WhatIf& w : settings) budget_given = budget_given || w.key == "budget";
  if (cfg->pressure.enabled && !budget_given) cfg->budget_bytes = 512ULL << 20;
  return cfg;
}

absl::StatusOr<Recording> RecordWorkload(const dev::DeviceConfig& config,
                                         const workload::WorkloadConfig& w,
                                         const std::string& board, const std::string& trace_id,
                                         const trace::WriterOptions& options) {
  Recording r;
  trace::StringSink sink(&r.bytes);
  trace::TraceWriter writer(&sink, MakeHeader(config, w.name, board, trace_id, 0, w.frames),
                            options);
  Recorder rec(&writer);
  dev::Device device(config);
  device.set_observer(&rec);
  absl::Status s = workload::RunWorkload(w, device);
  device.set_observer(nullptr);  // teardown is not part of the recording
  if (!s.ok()) return s;
  if (absl::Status f = rec.Finish(); !f.ok()) return f;
  r.events = writer.events_written();
  r.virtual_ns = device.now_ns();
  return r;
}

}  // namespace faultlab::replay
