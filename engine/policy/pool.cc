// pool:<pages>: a reserve of BO pages, refilled with blocking allocation at
// every job submission (where sleeping is allowed), that faulting pages are
// taken from first; an empty reserve falls back to __GFP_NORETRY. Table pages
// and metadata are not pooled: they use __GFP_NORETRY.
#include "absl/strings/str_cat.h"
#include "engine/policy/registry.h"

namespace faultlab::policy {
namespace {

class Pool : public FaultPolicy {
 public:
  Pool(uint64_t pages, mem::MemoryModel* mem) : pages_(pages), mem_(mem) {}
  std::string Name() const override { return absl::StrCat("pool:", pages_); }
  mem::AllocClass PageClass() const override { return mem::AllocClass::kPool; }
  mem::AllocClass TableClass() const override { return mem::AllocClass::kNoretry; }
  mem::AllocClass MetadataClass() const override { return mem::AllocClass::kNoretry; }
  void OnSubmit() override { mem_->FillPool(pages_); }

 private:
  const uint64_t pages_;
  mem::MemoryModel* const mem_;
};

}  // namespace

std::unique_ptr<FaultPolicy> MakePool(uint64_t pages, mem::MemoryModel* mem) {
  return std::make_unique<Pool>(pages, mem);
}

}  // namespace faultlab::policy
