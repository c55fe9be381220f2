// dummy-page: when the fault path cannot allocate, map a reserve page into
// every unmapped page of the faulting granule instead of failing, so the
// context lives on (the fault is reported as degraded; what the GPU then
// reads is garbage). Each VM gets its reserve page at VM_CREATE (blocking);
// the table pages a degraded mapping needs come from __GFP_NORETRY first,
// then from a small reserve refilled with blocking allocation at every job
// submission.
#include <vector>

#include "engine/policy/registry.h"
#include "engine/uapi/errno.h"

namespace faultlab::policy {
namespace {

constexpr size_t kReserveTables = 8;

// Table pages for a degraded mapping: non-blocking first, then the reserve.
class ReserveTables : public pgtable::TableAllocator {
 public:
  ReserveTables(mem::MemoryModel* mem, std::vector<uint32_t>* reserve)
      : mem_(mem), reserve_(reserve) {}
  bool Alloc(uint32_t* frame) override {
    if (!mem_->AllocPage(mem::AllocClass::kNoretry, mem::Owner::kPageTable, frame)) {
      if (reserve_->empty()) return false;
      *frame = reserve_->back();
      reserve_->pop_back();
      mem_->Transfer(*frame, mem::Owner::kReserve, mem::Owner::kPageTable);
    }
    ++allocated_;
    return true;
  }
  void Free(uint32_t frame) override { mem_->Free(frame, mem::Owner::kPageTable); }
  uint32_t allocated() const { return allocated_; }

 private:
  mem::MemoryModel* mem_;
  std::vector<uint32_t>* reserve_;
  uint32_t allocated_ = 0;
};

class DummyPage : public FaultPolicy {
 public:
  explicit DummyPage(mem::MemoryModel* mem) : mem_(mem) {}
  ~DummyPage() override {
    for (uint32_t f : reserve_tables_) mem_->Free(f, mem::Owner::kReserve);
  }

  std::string Name() const override { return "dummy-page"; }
  mem::AllocClass PageClass() const override { return mem::AllocClass::kNoretry; }

  int OnVmCreate(vm::Vm& vm) override {
    uint32_t frame;
    if (!mem_->AllocPage(mem::AllocClass::kBlocking, mem::Owner::kReserve, &frame))
      return -uapi::kENOMEM;
    vm.set_dummy_frame(frame);
    return 0;
  }

  void OnSubmit() override {
    while (reserve_tables_.size() < kReserveTables) {
      uint32_t f;
      if (!mem_->AllocPage(mem::AllocClass::kBlocking, mem::Owner::kReserve, &f)) break;
      reserve_tables_.push_back(f);
    }
  }

  std::optional<Degraded> OnEnomem(vm::Vm& vm, uint64_t iova, uint64_t size, int prot) override {
    if (vm.dummy_frame() == gem::kNoFrame) return std::nullopt;
    ReserveTables tables(mem_, &reserve_tables_);
    Degraded d;
    for (uint64_t off = 0; off < size && d.ret == 0; off += mem::kPageSize) {
      if (vm.page_table().IovaToPhys(iova + off)) continue;
      uint64_t mapped;
      d.ret = vm.page_table().MapPages(iova + off, vm::PhysOf(vm.dummy_frame()), mem::kPageSize, 1,
                                       prot, &tables, &mapped);
      ++d.ptes;
    }
    d.table_pages = tables.allocated();
    return d;
  }

 private:
  mem::MemoryModel* const mem_;
  // Table pages kept for degraded mappings (Owner::kReserve).
  std::vector<uint32_t> reserve_tables_;
};

}  // namespace

std::unique_ptr<FaultPolicy> MakeDummyPage(uint64_t, mem::MemoryModel* mem) {
  return std::make_unique<DummyPage>(mem);
}

}  // namespace faultlab::policy
