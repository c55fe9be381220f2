#include "engine/replay/what_if.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/policy/registry.h"
#include "engine/profiles/profile.h"

namespace faultlab::replay {

namespace {

absl::Status Bad(absl::string_view key, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(key, " '", value, "': ", why));
}

}  // namespace

const std::vector<WhatIfKey>& WhatIfKeys() {
  static const auto* keys = new std::vector<WhatIfKey>{
      {"profile", "a board profile id (faultlab profiles)"},
      {"variant", VariantNames()},
      {"policy", "noretry, nowait, pool:<pages> or dummy-page"},
      {"budget", "memory the device may use, e.g. 64M, 2G (0: the profile's RAM; at most 1T)"},
      {"granularity", "alloc-on-fault granularity, a power of two from 4K below 4G, e.g. 2M"},
      {"thp", "never or within_size"},
      {"aof",
       "the trace's BOs to make alloc-on-fault: all, heap (NO_MMAP BOs), size>=2M (also >, <=, "
       "<), label=TEXT (a trailing * a prefix); terms joined with '+' all holding"},
      {"aof_granularity",
       "their granularity, a power of two from 4K below 4G (default 4K; halved until it "
       "divides the BO's size)"},
  };
  return *keys;
}

std::string WhatIfKeyList() {
  std::vector<std::string> names;
  for (const WhatIfKey& k : WhatIfKeys()) names.push_back(k.name);
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<uint64_t> ParseSize(absl::string_view s) {
  if (s.empty()) return absl::InvalidArgumentError("an empty size");
  uint64_t mult = 1;
  absl::string_view num = s;
  switch (s.back()) {
    case 'K':
    case 'k':
      mult = 1ULL << 10;
      break;
    case 'M':
    case 'm':
      mult = 1ULL << 20;
      break;
    case 'G':
    case 'g':
      mult = 1ULL << 30;
      break;
    case 'T':
    case 't':
      mult = 1ULL << 40;
      break;
    default:
      break;
  }
  if (mult > 1) num.remove_suffix(1);
  uint64_t v;
  const bool ok = absl::ConsumePrefix(&num, "0x") ? !num.empty() && absl::SimpleHexAtoi(num, &v)
                                                  : absl::SimpleAtoi(num, &v);
  if (!ok || num.find_first_of("+- ") != absl::string_view::npos ||
      (mult > 1 && v > (~0ULL) / mult)) {
    return absl::InvalidArgumentError(absl::StrCat("'", s, "' is not a size (e.g. 64M, 2G, 4096)"));
  }
  return v * mult;
}

bool AofSelector::Matches(uint64_t size, uint32_t flags, const std::string* bo_label) const {
  if (heap && !(flags & 1u)) return false;  // DRM_PANTHOR_BO_NO_MMAP
  if (label) {
    if (bo_label == nullptr) return false;
    const bool prefix = !label->empty() && label->back() == '*';
    if (prefix
            ? !absl::StartsWith(*bo_label, absl::string_view(*label).substr(0, label->size() - 1))
            : *bo_label != *label)
      return false;
  }
  return size >= min_size && size <= max_size;
}

absl::StatusOr<AofSelector> ParseAofSelector(absl::string_view text) {
  AofSelector sel;
  sel.text = std::string(text);
  if (text.empty())
    return absl::InvalidArgumentError("an empty selector (all, heap, size>=2M, label=TEXT)");
  for (absl::string_view term : absl::StrSplit(text, '+')) {
    if (term == "all") continue;
    if (term == "heap") {
      sel.heap = true;
      continue;
    }
    absl::string_view rest = term;
    if (absl::ConsumePrefix(&rest, "label=")) {
      if (rest.empty() || sel.label)
        return absl::InvalidArgumentError(absl::StrCat("'", term, "': one label=TEXT, not empty"));
      sel.label = std::string(rest);
      continue;
    }
    if (!absl::ConsumePrefix(&rest, "size")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", term,
          "' is no selector term (all, heap, size>=N, size>N, size<=N, size<N, label=TEXT)"));
    }
    const bool ge = absl::ConsumePrefix(&rest, ">="), le = !ge && absl::ConsumePrefix(&rest, "<=");
    const bool gt = !ge && !le && absl::ConsumePrefix(&rest, ">");
    const bool lt = !ge && !le && !gt && absl::ConsumePrefix(&rest, "<");
    if (!ge && !le && !gt && !lt)
      return absl::InvalidArgumentError(absl::StrCat("'", term, "': size needs >=, >, <= or <"));
    absl::StatusOr<uint64_t> n = ParseSize(rest);
    if (!n.ok())
      return absl::InvalidArgumentError(absl::StrCat("'", term, "': ", n.status().message()));
    if (ge) sel.min_size = std::max(sel.min_size, *n);
    if (gt) sel.min_size = std::max(sel.min_size, *n == UINT64_MAX ? *n : *n + 1);
    if (le) sel.max_size = std::min(sel.max_size, *n);
    if (lt) {
      if (*n == 0) return absl::InvalidArgumentError(absl::StrCat("'", term, "' matches nothing"));
      sel.max_size = std::min(sel.max_size, *n - 1);
    }
  }
  if (sel.min_size > sel.max_size)
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' matches no size"));
  return sel;
}

absl::Status SetWhatIf(absl::string_view key, absl::string_view value, WhatIf* w) {
  auto twice = [&](bool set) {
    return set ? absl::InvalidArgumentError(absl::StrCat("what-if key '", key, "' given twice"))
               : absl::OkStatus();
  };
  if (key == "profile") {
    if (absl::Status s = twice(w->profile.has_value()); !s.ok()) return s;
    absl::StatusOr<profiles::Profile> p = profiles::LoadProfile(value);
    if (!p.ok()) return Bad(key, value, p.status().message());
    w->profile = std::string(value);
  } else if (key == "variant") {
    if (absl::Status s = twice(w->variant.has_value()); !s.ok()) return s;
    w->variant = ParseVariant(value);
    if (!w->variant) return Bad(key, value, VariantNames());
  } else if (key == "policy") {
    if (absl::Status s = twice(w->policy.has_value()); !s.ok()) return s;
    absl::StatusOr<std::string> p = policy::Canonical(value);
    if (!p.ok()) return Bad(key, value, p.status().message());
    w->policy = *p;
  } else if (key == "budget") {
    if (absl::Status s = twice(w->budget_bytes.has_value()); !s.ok()) return s;
    absl::StatusOr<uint64_t> b = ParseSize(value);
    if (!b.ok()) return Bad(key, value, b.status().message());
    if (*b > kMaxBudgetBytes) return Bad(key, value, "more than the twin models (at most 1T)");
    w->budget_bytes = *b;
  } else if (key == "granularity") {
    if (absl::Status s = twice(w->granularity_bytes.has_value()); !s.ok()) return s;
    absl::StatusOr<uint64_t> g = ParseSize(value);
    if (!g.ok() || *g < 4096 || (*g & (*g - 1)) || *g > 0xffffffffu) {
      return Bad(key, value, "must be a power of two, >= 4K, < 4G");
    }
    w->granularity_bytes = *g;
  } else if (key == "aof") {
    if (absl::Status s = twice(w->aof.has_value()); !s.ok()) return s;
    absl::StatusOr<AofSelector> sel = ParseAofSelector(value);
    if (!sel.ok()) return Bad(key, value, sel.status().message());
    w->aof = *sel;
  } else if (key == "aof_granularity") {
    if (absl::Status s = twice(w->aof_granularity_bytes.has_value()); !s.ok()) return s;
    absl::StatusOr<uint64_t> g = ParseSize(value);
    if (!g.ok() || *g < 4096 || (*g & (*g - 1)) || *g > 0xffffffffu) {
      return Bad(key, value, "must be a power of two, >= 4K, < 4G");
    }
    w->aof_granularity_bytes = *g;
  } else if (key == "thp") {
    if (absl::Status s = twice(w->thp.has_value()); !s.ok()) return s;
    if (value == "never") {
      w->thp = mem::ThpMode::kNever;
    } else if (value == "within_size") {
      w->thp = mem::ThpMode::kWithinSize;
    } else {
      return Bad(key, value, "never or within_size");
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown what-if key '", key, "' (", WhatIfKeyList(), ")"));
  }
  return absl::OkStatus();
}

absl::Status ParseWhatIfArg(absl::string_view key_value, WhatIf* w) {
  const size_t eq = key_value.find('=');
  if (eq == absl::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("what-if '", key_value, "': expected key=value"));
  }
  return SetWhatIf(key_value.substr(0, eq), key_value.substr(eq + 1), w);
}

absl::StatusOr<WhatIf> ParseWhatIfArgs(const std::vector<std::string>& key_values) {
  WhatIf w;
  for (const std::string& kv : key_values) {
    if (absl::Status s = ParseWhatIfArg(kv, &w); !s.ok()) return s;
  }
  return w;
}

}  // namespace faultlab::replay
