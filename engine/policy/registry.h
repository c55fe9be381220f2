// The fault-policy registry: the one list of policies, their names and
// parameters, and the one parser (CLI flags, trace headers, what-if keys and
// the shim's FAULTLAB_POLICY all go through it).
//
//   absl::StatusOr<std::string> name = policy::Canonical("pool:064");  // "pool:64"
//   std::unique_ptr<FaultPolicy> p = policy::Make(*name, &memory);
#ifndef FAULTLAB_ENGINE_POLICY_REGISTRY_H_
#define FAULTLAB_ENGINE_POLICY_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/mem/memory.h"
#include "engine/policy/policy.h"

namespace faultlab::policy {

// The series' behaviour, and the default (DESIGN "Defaults").
constexpr char kDefaultPolicy[] = "noretry";

// One row of the registry: `name`, or `name:<param>` when `param` is set.
struct PolicyInfo {
  const char* name;
  const char* param;  // nullptr: takes none; else what the number means
  const char* summary;
  std::unique_ptr<FaultPolicy> (*make)(uint64_t param, mem::MemoryModel* mem);
};
const std::vector<PolicyInfo>& Policies();

// The canonical name of a policy spelled `spec`, or INVALID_ARGUMENT naming
// the known ones.
absl::StatusOr<std::string> Canonical(absl::string_view spec);

// The policy named `spec` (which Canonical() accepts; anything else is a
// broken invariant of the caller), drawing on `mem`.
std::unique_ptr<FaultPolicy> Make(absl::string_view spec, mem::MemoryModel* mem);

// One factory per policy file.
std::unique_ptr<FaultPolicy> MakeNoretry(uint64_t, mem::MemoryModel*);
std::unique_ptr<FaultPolicy> MakeNowait(uint64_t, mem::MemoryModel*);
std::unique_ptr<FaultPolicy> MakePool(uint64_t pages, mem::MemoryModel* mem);
std::unique_ptr<FaultPolicy> MakeDummyPage(uint64_t, mem::MemoryModel* mem);

}  // namespace faultlab::policy

#endif  // FAULTLAB_ENGINE_POLICY_REGISTRY_H_
