#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/policy/registry.h"

namespace faultlab::policy {
namespace {

using ::testing::HasSubstr;

TEST(PolicyRegistryTest, NamesAreCanonical) {
  EXPECT_EQ(*Canonical("noretry"), "noretry");
  EXPECT_EQ(*Canonical("nowait"), "nowait");
  EXPECT_EQ(*Canonical("dummy-page"), "dummy-page");
  EXPECT_EQ(*Canonical("pool:64"), "pool:64");
  EXPECT_EQ(*Canonical("pool:064"), "pool:64");
  EXPECT_EQ(*Canonical("pool:0"), "pool:0");
}

TEST(PolicyRegistryTest, BadSpellingsAreRefusedNamingTheKnownOnes) {
  for (const char* bad :
       {"", "retry", "pool", "pool:", "pool:x", "pool:-1", "pool:99999999999999999999", "noretry:3",
        "nowait:", "Noretry", "pool:1099511627777"}) {
    absl::StatusOr<std::string> p = Canonical(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(p.status().message()),
                HasSubstr("(noretry, nowait, pool:<pages>, dummy-page)"));
  }
}

TEST(PolicyRegistryTest, EveryRowMakesThePolicyItNames) {
  mem::MemoryModel mem(mem::MemoryConfig{64ULL << 20});
  for (const PolicyInfo& info : Policies()) {
    const std::string spec = info.param ? std::string(info.name) + ":8" : info.name;
    std::unique_ptr<FaultPolicy> p = Make(spec, &mem);
    EXPECT_EQ(p->Name(), spec);
  }
}

TEST(PolicyTest, ClassesFollowThePolicy) {
  mem::MemoryModel mem(mem::MemoryConfig{64ULL << 20});
  auto noretry = Make("noretry", &mem);
  EXPECT_EQ(noretry->PageClass(), mem::AllocClass::kNoretry);
  EXPECT_EQ(noretry->TableClass(), mem::AllocClass::kNoretry);
  auto nowait = Make("nowait", &mem);
  EXPECT_EQ(nowait->PageClass(), mem::AllocClass::kNowait);
  EXPECT_EQ(nowait->MetadataClass(), mem::AllocClass::kNowait);
  auto pool = Make("pool:16", &mem);
  EXPECT_EQ(pool->PageClass(), mem::AllocClass::kPool);
  EXPECT_EQ(pool->TableClass(), mem::AllocClass::kNoretry) << "only BO pages are pooled";
  EXPECT_EQ(pool->MetadataClass(), mem::AllocClass::kNoretry);
}

TEST(PolicyTest, PoolRefillsAtEverySubmit) {
  mem::MemoryModel mem(mem::MemoryConfig{64ULL << 20});
  auto pool = Make("pool:16", &mem);
  EXPECT_EQ(mem.pool_pages(), 0u);
  pool->OnSubmit();
  EXPECT_EQ(mem.pool_pages(), 16u);
  uint32_t f;
  ASSERT_TRUE(mem.AllocPage(mem::AllocClass::kPool, mem::Owner::kBoPage, &f));
  EXPECT_EQ(mem.pool_pages(), 15u);
  pool->OnSubmit();
  EXPECT_EQ(mem.pool_pages(), 16u);
}

TEST(PolicyTest, DummyPageGivesEachVmAReservePageAndKeepsTablesInReserve) {
  mem::MemoryModel mem(mem::MemoryConfig{64ULL << 20});
  {
    auto dummy = Make("dummy-page", &mem);
    dummy->OnSubmit();
    EXPECT_EQ(mem.owned_pages(mem::Owner::kReserve), 8u) << "the table reserve";
    vm::Vm vm(1, 48, 1ULL << 47, 1ULL << 47, &mem, Variant::kSeriesFixed, nullptr);
    ASSERT_EQ(dummy->OnVmCreate(vm), 0);
    EXPECT_NE(vm.dummy_frame(), gem::kNoFrame);
    EXPECT_EQ(mem.owned_pages(mem::Owner::kReserve), 9u);
    // A degraded mapping: the reserve page behind every unmapped page.
    std::optional<Degraded> d =
        dummy->OnEnomem(vm, 0x100000, 4 * mem::kPageSize, vm::Vm::FlagsToProt(0));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->ret, 0);
    EXPECT_EQ(d->ptes, 4u);
    EXPECT_EQ(vm.page_table().IovaToPhys(0x102000), vm::PhysOf(vm.dummy_frame()));
  }
  EXPECT_EQ(mem.owned_pages(mem::Owner::kReserve), 0u)
      << "the policy and the VM give everything back";
}

TEST(PolicyTest, OtherPoliciesLetTheFaultFail) {
  mem::MemoryModel mem(mem::MemoryConfig{64ULL << 20});
  vm::Vm vm(1, 48, 1ULL << 47, 1ULL << 47, &mem, Variant::kSeriesFixed, nullptr);
  for (const char* spec : {"noretry", "nowait", "pool:4"}) {
    EXPECT_FALSE(Make(spec, &mem)->OnEnomem(vm, 0x100000, mem::kPageSize, 0).has_value()) << spec;
  }
}

}  // namespace
}  // namespace faultlab::policy
