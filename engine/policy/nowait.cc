// nowait: GFP_NOWAIT on the fault path — no direct reclaim either, but
// kswapd is woken below the low watermark, so memory comes back in the
// background (virtual time) for later faults.
#include "engine/policy/registry.h"

namespace faultlab::policy {
namespace {

class Nowait : public FaultPolicy {
 public:
  std::string Name() const override { return "nowait"; }
  mem::AllocClass PageClass() const override { return mem::AllocClass::kNowait; }
};

}  // namespace

std::unique_ptr<FaultPolicy> MakeNowait(uint64_t, mem::MemoryModel*) {
  return std::make_unique<Nowait>();
}

}  // namespace faultlab::policy
