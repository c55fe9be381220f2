// WhatIf: the device settings a replay changes from its trace's header — or
// a recording sets over the defaults (DESIGN "What-if keys"). One strict
// parser for every way a setting arrives: `faultlab replay --what-if`,
// `faultlab record`'s flags, the server's Replay RPC, the agent's and the
// shim's settings, and a trace header's own values (config.h).
//
//   WhatIf w;
//   RETURN_IF_ERROR(SetWhatIf("budget", "64M", &w));     // w.budget_bytes = 64 MiB
//   RETURN_IF_ERROR(ParseWhatIfArg("policy=pool:64", &w));
//   SetWhatIf("budget", "lots", &w);   // INVALID_ARGUMENT: budget 'lots': not a size ...
#ifndef FAULTLAB_ENGINE_REPLAY_WHAT_IF_H_
#define FAULTLAB_ENGINE_REPLAY_WHAT_IF_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/base/variant.h"
#include "engine/mem/memory.h"

namespace faultlab::replay {

// The largest budget the twin accepts: past any board's RAM, small enough
// that the memory model's bookkeeping stays in megabytes.
constexpr uint64_t kMaxBudgetBytes = 1ULL << 40;  // 1 TiB

// `aof=` (DESIGN "What-if keys"): which BO_CREATEs of a trace become
// alloc-on-fault BOs. Terms joined by '+' must all hold: `all`; `heap` (BOs
// created NO_MMAP: GPU-only memory no CPU maps — Mesa's heaps and scratch);
// `size>=N` (also `>`, `<=`, `<`; N a size: 2M); `label=TEXT` (the label
// BO_SET_LABEL gives the BO later in the trace; a trailing `*` matches a
// prefix; Mesa 25.0.7 labels none).
struct AofSelector {
  std::string text;  // as given, for reports
  bool heap = false;
  uint64_t min_size = 0;           // inclusive
  uint64_t max_size = UINT64_MAX;  // inclusive
  std::optional<std::string> label;
  // `label`: the BO's label, nullptr for none.
  bool Matches(uint64_t size, uint32_t flags, const std::string* label) const;
};
absl::StatusOr<AofSelector> ParseAofSelector(absl::string_view text);

// Converted BOs' granularity when `aof_granularity` is not given: a page,
// which every mapping fits (a granule its VA is not aligned to makes the
// series' fault handler say -EINVAL; Mesa 25.0.7 places small BOs 4 KiB
// apart).
constexpr uint64_t kDefaultAofGranularity = 4096;

struct WhatIf {
  std::optional<std::string> profile;  // a profile id that loads
  std::optional<Variant> variant;
  std::optional<std::string> policy;     // policy::Canonical()'s name
  std::optional<uint64_t> budget_bytes;  // 0: the profile's RAM
  // Alloc-on-fault BOs' granularity: a power of two, >= 4K, < 4G.
  std::optional<uint64_t> granularity_bytes;
  std::optional<mem::ThpMode> thp;
  // Plain BOs of the trace made alloc-on-fault, and their granularity.
  std::optional<AofSelector> aof;
  std::optional<uint64_t> aof_granularity_bytes;

  bool empty() const {
    return !profile && !variant && !policy && !budget_bytes && !granularity_bytes && !thp && !aof &&
           !aof_granularity_bytes;
  }
};

// The keys, in the order help texts list them.
struct WhatIfKey {
  const char* name;
  const char* values;  // what a value looks like
};
const std::vector<WhatIfKey>& WhatIfKeys();
// "profile, variant, policy, budget, granularity, thp, aof, aof_granularity".
std::string WhatIfKeyList();

// Sets `key` to `value` in `*w`. INVALID_ARGUMENT naming the key and what
// is wrong: an unknown key, a key given twice, a value that does not parse.
absl::Status SetWhatIf(absl::string_view key, absl::string_view value, WhatIf* w);
// One "key=value".
absl::Status ParseWhatIfArg(absl::string_view key_value, WhatIf* w);
// Every "key=value" in turn.
absl::StatusOr<WhatIf> ParseWhatIfArgs(const std::vector<std::string>& key_values);

// "64M", "2G", "4096", "0x1000" -> bytes; INVALID_ARGUMENT otherwise
// (including an overflow).
absl::StatusOr<uint64_t> ParseSize(absl::string_view s);

}  // namespace faultlab::replay

#endif  // FAULTLAB_ENGINE_REPLAY_WHAT_IF_H_
