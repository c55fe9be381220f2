#include "engine/profiles/profile.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/profiles/profile_data.h"

namespace faultlab::profiles {
namespace {

bool ParseU64(absl::string_view s, uint64_t* out) {
  s = absl::StripAsciiWhitespace(s);
  if (absl::ConsumePrefix(&s, "0x") || absl::ConsumePrefix(&s, "0X")) {
    return !s.empty() && absl::SimpleHexAtoi(s, out);
  }
  return absl::SimpleAtoi(s, out);
}

// Each key of a profile file, and how its value is parsed into `p`.
using Setters = std::map<std::string, std::function<bool(absl::string_view)>>;

Setters KeysOf(Profile& p) {
  Setters setters;
  auto u32 = [](uint32_t* field) {
    return [field](absl::string_view v) {
      uint64_t x;
      if (!ParseU64(v, &x) || x > 0xffffffffu) return false;
      *field = static_cast<uint32_t>(x);
      return true;
    };
  };
  auto u64 = [](uint64_t* field) {
    return [field](absl::string_view v) { return ParseU64(v, field); };
  };
  auto str = [](std::string* field) {
    return [field](absl::string_view v) {
      *field = std::string(absl::StripAsciiWhitespace(v));
      return !field->empty();
    };
  };
  uapi::PanthorGpuInfo& g = p.gpu_info;
  setters["id"] = str(&p.id);
  setters["name"] = str(&p.name);
  setters["gpu_id"] = u32(&g.gpu_id);
  setters["gpu_rev"] = u32(&g.gpu_rev);
  setters["csf_id"] = u32(&g.csf_id);
  setters["l2_features"] = u32(&g.l2_features);
  setters["tiler_features"] = u32(&g.tiler_features);
  setters["mem_features"] = u32(&g.mem_features);
  setters["mmu_features"] = u32(&g.mmu_features);
  setters["thread_features"] = u32(&g.thread_features);
  setters["max_threads"] = u32(&g.max_threads);
  setters["thread_max_workgroup_size"] = u32(&g.thread_max_workgroup_size);
  setters["thread_max_barrier_size"] = u32(&g.thread_max_barrier_size);
  setters["coherency_features"] = u32(&g.coherency_features);
  setters["texture_features"] = [&g](absl::string_view v) {
    std::vector<absl::string_view> parts = absl::StrSplit(v, ',');
    if (parts.size() != 4) return false;
    for (int i = 0; i < 4; ++i) {
      uint64_t x;
      if (!ParseU64(parts[i], &x) || x > 0xffffffffu) return false;
      g.texture_features[i] = static_cast<uint32_t>(x);
    }
    return true;
  };
  setters["opp_hz"] = [&p](absl::string_view v) {
    p.opp_hz.clear();
    for (absl::string_view part : absl::StrSplit(v, ',')) {
      uint64_t hz;
      if (!ParseU64(part, &hz) || hz == 0 || (!p.opp_hz.empty() && hz <= p.opp_hz.back()))
        return false;
      p.opp_hz.push_back(hz);
    }
    return !p.opp_hz.empty() && p.opp_hz.size() <= 32;
  };
  setters["as_present"] = u32(&g.as_present);
  setters["shader_present"] = u64(&g.shader_present);
  setters["l2_present"] = u64(&g.l2_present);
  setters["tiler_present"] = u64(&g.tiler_present);
  setters["core_features"] = u32(&g.core_features);
  setters["csg_slot_count"] = u32(&p.csif_info.csg_slot_count);
  setters["cs_slot_count"] = u32(&p.csif_info.cs_slot_count);
  setters["cs_reg_count"] = u32(&p.csif_info.cs_reg_count);
  setters["scoreboard_slot_count"] = u32(&p.csif_info.scoreboard_slot_count);
  setters["unpreserved_cs_reg_count"] = u32(&p.csif_info.unpreserved_cs_reg_count);
  setters["timestamp_frequency"] = u64(&p.timestamp_frequency);
  setters["ram_bytes"] = u64(&p.ram_bytes);
  setters["task_size"] = u64(&p.task_size);
  setters["unique"] = str(&p.unique);
  setters["compatible"] = str(&p.compatible);
  setters["job_timeout_ms"] = [&p](absl::string_view v) {
    uint64_t ms;
    if (!ParseU64(v, &ms) || ms == 0 || ms > 3'600'000) return false;  // up to an hour
    p.job_timeout_ns = ms * 1'000'000;
    return true;
  };
  // `MIN..MAX`, or `N` for a fixed cost.
  auto range = [](CostRange* field) {
    return [field](absl::string_view v) {
      const size_t dots = v.find("..");
      if (dots == absl::string_view::npos) {
        return ParseU64(v, &field->min_ns) && ((field->max_ns = field->min_ns), true);
      }
      return ParseU64(v.substr(0, dots), &field->min_ns) &&
             ParseU64(v.substr(dots + 2), &field->max_ns) && field->min_ns <= field->max_ns;
    };
  };
  CostModel& cm = p.cost;
  setters["cost.irq_entry_ns"] = range(&cm.irq_entry);
  setters["cost.workqueue_delay_ns"] = range(&cm.workqueue_delay);
  setters["cost.page_alloc_ns"] = range(&cm.page_alloc);
  setters["cost.huge_alloc_ns"] = range(&cm.huge_alloc);
  setters["cost.metadata_alloc_ns"] = range(&cm.metadata_alloc);
  setters["cost.pte_update_ns"] = range(&cm.pte_update);
  setters["cost.flush_ns"] = range(&cm.flush);
  setters["cost.reclaim_page_ns"] = range(&cm.reclaim_page);
  setters["cost.kswapd_wakeup_ns"] = range(&cm.kswapd_wakeup);
  setters["cost.gpu_page_access_ns"] = range(&cm.gpu_page_access);
  setters["cost.job_launch_ns"] = range(&cm.job_launch);
  setters["cost.sched_tick_ns"] = range(&cm.sched_tick);
  setters["cost.heap_grow_ns"] = range(&cm.heap_grow);
  setters["cost.bind_job_ns"] = range(&cm.bind_job);
  setters["invented"] = [&p](absl::string_view v) {
    for (absl::string_view f : absl::StrSplit(v, ',', absl::SkipWhitespace())) {
      p.invented.emplace_back(absl::StripAsciiWhitespace(f));
    }
    return true;
  };
  return setters;
}

// Applies every `key = value` line; each key at most once.
absl::Status ApplyLines(absl::string_view text, absl::string_view origin, const Setters& setters,
                        std::set<std::string>* seen) {
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ":", line_no, ": expected 'key = value'"));
    }
    const std::string key(absl::StripAsciiWhitespace(line.substr(0, eq)));
    auto it = setters.find(key);
    if (it == setters.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ":", line_no, ": unknown key '", key, "'"));
    }
    if (!seen->insert(key).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ":", line_no, ": '", key, "' given twice"));
    }
    if (!it->second(line.substr(eq + 1))) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ":", line_no, ": bad value for '", key, "'"));
    }
  }
  return absl::OkStatus();
}

// Facts the model relies on.
absl::Status CheckFacts(const Profile& p, absl::string_view origin) {
  const uint32_t va = p.va_bits();
  if (va < 32 || va > 48 || p.pa_bits() < 32 || p.pa_bits() > 48) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": mmu_features VA/PA bits out of range"));
  }
  if (!(p.gpu_info.as_present & 1) || p.as_count() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": as_present needs AS0 and one more"));
  }
  if (p.ram_bytes < (64ULL << 20) || p.ram_bytes % 4096 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": ram_bytes must be a multiple of 4096, >= 64M"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Profile> ParseProfile(absl::string_view text, absl::string_view origin) {
  Profile p;
  p.text = std::string(text);
  const Setters setters = KeysOf(p);
  std::set<std::string> seen;
  if (absl::Status s = ApplyLines(text, origin, setters, &seen); !s.ok()) return s;
  for (const auto& [key, setter] : setters) {
    if (key != "invented" && key != "job_timeout_ms" && !seen.count(key)) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ": missing key '", key, "'"));
    }
  }
  for (const std::string& f : p.invented) {
    if (!setters.count(f)) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": 'invented' names unknown key '", f, "'"));
    }
  }
  if (absl::Status s = CheckFacts(p, origin); !s.ok()) return s;
  return p;
}

namespace {
std::string& Dir() {
  static std::string dir;
  return dir;
}
}  // namespace

void SetProfileDir(std::string dir) { Dir() = std::move(dir); }
const std::string& ProfileDir() { return Dir(); }

namespace {

// The built-in profiles, parsed once per process (their text is compiled
// in): every replay loads its profile, and a parse is ~100 µs — a tenth of
// replaying a short trace. A function-local static: initialised once even
// when threads replay at the same time.
const std::vector<absl::StatusOr<Profile>>& ParsedBuiltins() {
  static const std::vector<absl::StatusOr<Profile>>* const parsed = [] {
    auto* v = new std::vector<absl::StatusOr<Profile>>();
    for (const BuiltinProfile& b : BuiltinProfiles()) {
      v->push_back(ParseProfile(b.text, absl::StrCat("builtin:", b.file_name)));
    }
    return v;
  }();
  return *parsed;
}

// The built-in profile `id`'s parse, or nullptr.
const absl::StatusOr<Profile>* FindParsedBuiltin(absl::string_view id) {
  const std::string file = absl::StrCat(id, ".profile");
  const std::vector<BuiltinProfile>& builtins = BuiltinProfiles();
  for (size_t i = 0; i < builtins.size(); ++i) {
    if (file == builtins[i].file_name) return &ParsedBuiltins()[i];
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::pair<std::string, std::string>> ProfileText(absl::string_view id,
                                                                const std::string& override_dir) {
  const std::string& dir = override_dir.empty() ? ProfileDir() : override_dir;
  if (!dir.empty() && id.find('/') == absl::string_view::npos) {
    const std::string path = absl::StrCat(dir, "/", id, ".profile");
    std::ifstream in(path);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      return std::make_pair(ss.str(), path);
    }
  }
  const std::string file = absl::StrCat(id, ".profile");
  for (const BuiltinProfile& b : BuiltinProfiles()) {
    if (file == b.file_name) return std::make_pair(std::string(b.text), "builtin:" + file);
  }
  return absl::NotFoundError(absl::StrCat("unknown profile '", id,
                                          "' (built in: ", absl::StrJoin(BuiltinProfileIds(), ", "),
                                          dir.empty() ? "" : absl::StrCat("; none in ", dir), ")"));
}

absl::StatusOr<Profile> LoadBuiltinProfile(absl::string_view id) {
  if (const absl::StatusOr<Profile>* p = FindParsedBuiltin(id)) return *p;
  return absl::NotFoundError(absl::StrCat("no built-in profile '", id, "'"));
}

absl::StatusOr<Profile> LoadProfile(absl::string_view id, const std::string& override_dir) {
  absl::StatusOr<std::pair<std::string, std::string>> text = ProfileText(id, override_dir);
  if (!text.ok()) return text.status();
  const absl::StatusOr<Profile>* builtin =
      absl::StartsWith(text->second, "builtin:") ? FindParsedBuiltin(id) : nullptr;
  absl::StatusOr<Profile> p = builtin ? *builtin : ParseProfile(text->first, text->second);
  if (p.ok() && p->id != id) {
    return absl::InvalidArgumentError(
        absl::StrCat(text->second, ": id is '", p->id, "', not '", id, "'"));
  }
  return p;
}

std::vector<std::string> BuiltinProfileIds() {
  std::vector<std::string> ids;
  for (const BuiltinProfile& b : BuiltinProfiles()) {
    std::string name = b.file_name;
    ids.push_back(name.substr(0, name.size() - std::string(".profile").size()));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace faultlab::profiles
