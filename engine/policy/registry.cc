#include "engine/policy/registry.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/check.h"

namespace faultlab::policy {
namespace {

constexpr uint64_t kMaxParam = 1ULL << 40;

struct Parsed {
  const PolicyInfo* info = nullptr;
  uint64_t param = 0;
};

std::string Known() {
  std::vector<std::string> names;
  for (const PolicyInfo& p : Policies()) {
    names.push_back(p.param ? absl::StrCat(p.name, ":<", p.param, ">") : p.name);
  }
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<Parsed> Parse(absl::string_view spec) {
  const size_t colon = spec.find(':');
  const absl::string_view name = spec.substr(0, colon);
  for (const PolicyInfo& p : Policies()) {
    if (name != p.name) continue;
    Parsed out{&p, 0};
    if (p.param == nullptr && colon == absl::string_view::npos) return out;
    const absl::string_view digits =
        colon == absl::string_view::npos ? absl::string_view() : spec.substr(colon + 1);
    if (p.param != nullptr && !digits.empty() &&
        digits.find_first_not_of("0123456789") == absl::string_view::npos &&
        absl::SimpleAtoi(digits, &out.param) && out.param <= kMaxParam) {
      return out;
    }
    break;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown policy '", spec, "' (", Known(), ")"));
}

}  // namespace

const std::vector<PolicyInfo>& Policies() {
  static const auto* rows = new std::vector<PolicyInfo>{
      {"noretry", nullptr, "the series as posted: __GFP_NORETRY, no reclaim", &MakeNoretry},
      {"nowait", nullptr, "GFP_NOWAIT: no direct reclaim, kswapd woken", &MakeNowait},
      {"pool", "pages", "a reserve refilled with blocking allocation at each submit", &MakePool},
      {"dummy-page", nullptr, "on failure map a reserve page: the context survives, degraded",
       &MakeDummyPage},
  };
  return *rows;
}

absl::StatusOr<std::string> Canonical(absl::string_view spec) {
  absl::StatusOr<Parsed> p = Parse(spec);
  if (!p.ok()) return p.status();
  return p->info->param ? absl::StrCat(p->info->name, ":", p->param) : std::string(p->info->name);
}

std::unique_ptr<FaultPolicy> Make(absl::string_view spec, mem::MemoryModel* mem) {
  absl::StatusOr<Parsed> p = Parse(spec);
  FAULTLAB_CHECK(p.ok(), p.status().message());
  return p->info->make(p->param, mem);
}

}  // namespace faultlab::policy
