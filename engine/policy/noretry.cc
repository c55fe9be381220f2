// noretry: the series as posted. The fault path allocates with
// __GFP_NORETRY | __GFP_NOWARN and no reclaim bits at all (the seed's
// panthor_vm_map_on_demand_locked() and alloc_pt() without an op_ctx), so an
// allocation fails as soon as free memory is below the min watermark, and
// the fault kills the job.
#include "engine/policy/registry.h"

namespace faultlab::policy {
namespace {

class Noretry : public FaultPolicy {
 public:
  std::string Name() const override { return "noretry"; }
  mem::AllocClass PageClass() const override { return mem::AllocClass::kNoretry; }
};

}  // namespace

std::unique_ptr<FaultPolicy> MakeNoretry(uint64_t, mem::MemoryModel*) {
  return std::make_unique<Noretry>();
}

}  // namespace faultlab::policy
