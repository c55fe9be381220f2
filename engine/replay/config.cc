#include "engine/replay/config.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/base/check.h"
#include "engine/policy/registry.h"
#include "engine/profiles/profile.h"
#include "engine/replay/version.h"
#include "engine/workload/workload.h"

namespace faultlab::replay {

namespace {

void Put(trace::TraceHeader* h, const std::string& key, const std::string& value) {
  trace::ConfigEntry* e = h->add_config();
  e->set_key(key);
  e->set_value(value);
}

const std::string* Find(const trace::TraceHeader& h, absl::string_view key) {
  for (const trace::ConfigEntry& e : h.config()) {
    if (e.key() == key) return &e.value();
  }
  return nullptr;
}

absl::Status Damaged(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("trace header: ", what));
}

// An integer header key in [lo, hi], when present.
absl::Status HeaderInt(const trace::TraceHeader& h, absl::string_view key, uint64_t lo, uint64_t hi,
                       uint32_t* out) {
  const std::string* v = Find(h, key);
  if (v == nullptr) return absl::OkStatus();
  uint64_t n;
  if (!absl::SimpleAtoi(*v, &n) || n < lo || n > hi) {
    return Damaged(absl::StrCat(key, " '", *v, "': not a number in [", lo, ", ", hi, "]"));
  }
  *out = static_cast<uint32_t>(n);
  return absl::OkStatus();
}

// The header's settings that are also what-if keys, parsed by the same parser.
absl::StatusOr<WhatIf> HeaderSettings(const trace::TraceHeader& h) {
  WhatIf w;
  const std::pair<const char*, std::string> fields[] = {
      {"profile", h.profile()}, {"variant", h.variant()}, {"policy", h.policy()}};
  for (const auto& [key, value] : fields) {
    if (std::string(key) == "profile" && Find(h, "profile_text")) continue;  // ConfigFromHeader
    if (absl::Status s = SetWhatIf(key, value, &w); !s.ok()) return Damaged(s.message());
  }
  for (const char* key : {"budget", "thp"}) {
    if (const std::string* v = Find(h, key)) {
      if (absl::Status s = SetWhatIf(key, *v, &w); !s.ok()) return Damaged(s.message());
    }
  }
  return w;
}

}  // namespace

trace::TraceHeader MakeHeader(const dev::DeviceConfig& c, const std::string& workload,
                              const std::string& board, const std::string& trace_id,
                              int64_t wall_clock_ns, uint32_t frames) {
  trace::TraceHeader h;
  h.set_trace_id(trace_id);
  h.set_board(board);
  h.set_profile(c.profile.id);
  h.set_variant(VariantName(c.variant));
  h.set_policy(c.policy);
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
  if (c.fault_cost_permille != 1000)
    Put(&h, "fault_cost_permille", std::to_string(c.fault_cost_permille));
  // A job timeout other than the profile's (a test's short one).
  absl::StatusOr<profiles::Profile> builtin = profiles::LoadBuiltinProfile(c.profile.id);
  if (builtin.ok() && builtin->job_timeout_ns != c.profile.job_timeout_ns)
    Put(&h, "job_timeout_ms", std::to_string(c.profile.job_timeout_ns / 1'000'000));
  // A profile that is not the built-in one (a calibrated board's,
  // --profile-dir) travels in the trace: a replay anywhere uses it.
  if (!c.profile.text.empty() && (!builtin.ok() || builtin->text != c.profile.text))
    Put(&h, "profile_text", c.profile.text);
  return h;
}

absl::StatusOr<dev::DeviceConfig> ConfigFromHeader(const trace::TraceHeader& h) {
  absl::StatusOr<WhatIf> settings = HeaderSettings(h);
  if (!settings.ok()) return settings.status();
  dev::DeviceConfig c = DefaultConfig();
  ApplyWhatIf(*settings, &c);
  if (const std::string* text = Find(h, "profile_text")) {
    absl::StatusOr<profiles::Profile> p = profiles::ParseProfile(*text, "the trace's profile");
    if (!p.ok()) return Damaged(p.status().message());
    if (p->id != h.profile())
      return Damaged(
          absl::StrCat("profile_text is profile '", p->id, "', not '", h.profile(), "'"));
    c.profile = *std::move(p);
  }
  c.seed = h.seed();
  if (const std::string* p = Find(h, "pressure")) {
    if (*p != "on" && *p != "off") return Damaged(absl::StrCat("pressure '", *p, "': on or off"));
    c.pressure.enabled = *p == "on";
  }
  mem::PressureConfig& pc = c.pressure;
  for (absl::Status s :
       {HeaderInt(h, "pressure.tenant_min_permille", 0, 1000, &pc.tenant_min_permille),
        HeaderInt(h, "pressure.tenant_max_permille", 0, 1000, &pc.tenant_max_permille),
        HeaderInt(h, "pressure.fail_permille", 0, 1000, &pc.fail_permille),
        HeaderInt(h, "v3_tick_race_permille", 0, 1000, &c.v3_tick_race_permille),
        // A fault path from a thousand times faster to a hundred times slower.
        HeaderInt(h, "fault_cost_permille", 1, 100000, &c.fault_cost_permille)}) {
    if (!s.ok()) return s;
  }
  if (pc.tenant_min_permille > pc.tenant_max_permille) {
    return Damaged("pressure.tenant_min_permille is above pressure.tenant_max_permille");
  }
  uint32_t job_timeout_ms = 0;  // the profile's key's range: up to an hour
  if (absl::Status s = HeaderInt(h, "job_timeout_ms", 1, 3'600'000, &job_timeout_ms); !s.ok())
    return s;
  if (job_timeout_ms) c.profile.job_timeout_ns = uint64_t{job_timeout_ms} * 1'000'000;
  return c;
}

absl::StatusOr<uint32_t> HeaderFrames(const trace::TraceHeader& h) {
  uint32_t frames = 0;
  if (absl::Status s = HeaderInt(h, "frames", 0, 1u << 20, &frames); !s.ok()) return s;
  return frames;
}

void ApplyWhatIf(const WhatIf& w, dev::DeviceConfig* c) {
  if (w.profile) {
    absl::StatusOr<profiles::Profile> p = profiles::LoadProfile(*w.profile);
    FAULTLAB_CHECK(p.ok(), "the what-if parser accepted profile '", *w.profile,
                   "': ", p.status().message());
    c->profile = *std::move(p);
  }
  if (w.variant) c->variant = *w.variant;
  if (w.policy) c->policy = *w.policy;
  if (w.budget_bytes) c->budget_bytes = *w.budget_bytes;
  if (w.thp) c->thp = *w.thp;
}

dev::DeviceConfig DefaultConfig() {
  absl::StatusOr<profiles::Profile> p = profiles::LoadProfile(profiles::kDefaultProfile);
  FAULTLAB_CHECK(p.ok(), "the built-in default profile: ", p.status().message());
  dev::DeviceConfig c;
  c.profile = *std::move(p);
  return c;
}

absl::StatusOr<dev::DeviceConfig> RecordingConfig(const std::string& workload,
                                                  const WhatIf& settings, bool pressure) {
  const workload::WorkloadInfo* info =
      workload.empty() ? nullptr : workload::FindWorkload(workload);
  if (!workload.empty() && info == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown workload '", workload, "'"));
  }
  if (settings.granularity_bytes) {
    return absl::InvalidArgumentError(
        "granularity is not a recording setting: the workload's BOs carry their own");
  }
  dev::DeviceConfig c = DefaultConfig();
  ApplyWhatIf(settings, &c);
  c.pressure.enabled = pressure || (info != nullptr && info->wants_pressure);
  if (c.pressure.enabled && !settings.budget_bytes) c.budget_bytes = 512ULL << 20;
  return c;
}

}  // namespace faultlab::replay
