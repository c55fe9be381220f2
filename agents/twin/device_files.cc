// TwinHost's files that are made as they are read: sysfs's devfreq and
// runtime PM of the device (engine/pm), and the DRM keys of a device file's
// fdinfo (drm_show_fdinfo(), panthor_show_fdinfo()).
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agents/twin/twin_host.h"

namespace faultlab::twin {

namespace {

// drm_fdinfo_print_size(): bytes, or KiB / MiB when a whole number of them.
std::string FdinfoSize(uint64_t bytes) {
  const char* units[] = {"", " KiB", " MiB"};
  int u = 0;
  for (; u < 2 && bytes != 0 && bytes % 1024 == 0; ++u) bytes /= 1024;
  return absl::StrCat(bytes, units[u]);
}

// devfreq's trans_stat_show().
std::string TransStat(const pm::Power::Snapshot& s) {
  const size_t n = s.opp_hz.size();
  std::string out = "     From  :   To\n           :";
  for (uint64_t hz : s.opp_hz) absl::StrAppend(&out, absl::StrFormat("%10u", hz));
  absl::StrAppend(&out, "   time(ms)\n");
  for (size_t i = 0; i < n; ++i) {
    absl::StrAppend(&out, s.opp_hz[i] == s.cur_hz ? "*" : " ",
                    absl::StrFormat("%10u:", s.opp_hz[i]));
    for (size_t j = 0; j < n; ++j)
      absl::StrAppend(&out, absl::StrFormat("%10u", s.trans[i * n + j]));
    absl::StrAppend(&out, absl::StrFormat("%10u\n", s.time_in_state_ms[i]));
  }
  absl::StrAppend(&out, "Total transition : ", s.total_trans, "\n");
  return out;
}

}  // namespace

bool TwinHost::LiveText(const std::string& name, dev::File* file, std::string* out) {
  const pm::Power::Snapshot s = device_.PowerAt(now_ns());
  if (name == "fdinfo") {
    if (file == nullptr) return false;
    const dev::Device::FileUsage u = device_.UsageOf(file);
    const uint64_t max_hz = s.opp_hz.back();
    const uint64_t cycles =
        static_cast<uint64_t>(static_cast<unsigned __int128>(u.engine_ns) * max_hz / 1'000'000'000);
    *out = absl::StrCat(
        "drm-driver:\tpanthor\ndrm-client-id:\t", u.client_id, "\ndrm-engine-panthor:\t",
        u.engine_ns, " ns\ndrm-cycles-panthor:\t", cycles, "\ndrm-maxfreq-panthor:\t", max_hz,
        " Hz\ndrm-curfreq-panthor:\t", s.cur_hz, " Hz\ndrm-total-memory:\t",
        FdinfoSize(u.total_bytes), "\ndrm-shared-memory:\t", FdinfoSize(u.shared_bytes),
        "\ndrm-resident-memory:\t", FdinfoSize(u.resident_bytes), "\ndrm-purgeable-memory:\t0\n");
    return true;
  }
  const std::map<std::string, std::string> files = {
      {"devfreq/available_frequencies", absl::StrCat(absl::StrJoin(s.opp_hz, " "), "\n")},
      {"devfreq/available_governors", "userspace powersave performance simple_ondemand\n"},
      {"devfreq/cur_freq", absl::StrCat(s.cur_hz, "\n")},
      {"devfreq/target_freq", absl::StrCat(s.cur_hz, "\n")},
      {"devfreq/governor", "simple_ondemand\n"},
      {"devfreq/min_freq", absl::StrCat(s.opp_hz.front(), "\n")},
      {"devfreq/max_freq", absl::StrCat(s.opp_hz.back(), "\n")},
      {"devfreq/polling_interval", absl::StrCat(pm::Power::kPollNs / 1'000'000, "\n")},
      {"devfreq/trans_stat", TransStat(s)},
      {"power/runtime_status", s.suspended ? "suspended\n" : "active\n"},
      {"power/autosuspend_delay_ms", absl::StrCat(pm::Power::kAutosuspendNs / 1'000'000, "\n")},
      {"power/control", "auto\n"},
      {"power/runtime_active_time", absl::StrCat(s.active_ms, "\n")},
      {"power/runtime_suspended_time", absl::StrCat(s.suspended_ms, "\n")},
  };
  auto it = files.find(name);
  if (it == files.end()) return false;
  *out = it->second;
  return true;
}

}  // namespace faultlab::twin
