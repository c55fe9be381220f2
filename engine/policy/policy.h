// FaultPolicy: how the fault path allocates (DESIGN "Memory model"). The
// series posts one behaviour (`noretry`); the lab compares it with others a
// kernel could adopt. A policy decides:
//  - the allocation class of a faulting BO page, of a page-table page and of
//    metadata (sgt entries, xarray nodes) on the fault path;
//  - what a VM needs at VM_CREATE (dummy-page: its reserve page);
//  - what happens at every job submission (pool: the reserve is refilled);
//  - what happens when the fault path's allocation fails with -ENOMEM
//    (dummy-page: map a reserve page and keep the context alive, "degraded").
//
// One file per policy (noretry.cc, nowait.cc, pool.cc, dummy_page.cc) and one
// row each in registry.cc, which parses and names them. docs/engine.md "Adding
// a fault policy" shows the two places a new one touches.
#ifndef FAULTLAB_ENGINE_POLICY_POLICY_H_
#define FAULTLAB_ENGINE_POLICY_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "engine/mem/memory.h"
#include "engine/vm/vm.h"

namespace faultlab::policy {

// What a policy did instead of failing a fault: PTEs written and table pages
// taken (the fault path charges their cost), and 0 or -errno.
struct Degraded {
  int ret = 0;
  uint32_t ptes = 0;
  uint32_t table_pages = 0;
};

class FaultPolicy {
 public:
  virtual ~FaultPolicy() = default;

  // The canonical name, as trace headers and reports say it ("pool:64").
  virtual std::string Name() const = 0;

  // The class a faulting BO page is allocated with (the series' page gfp).
  virtual mem::AllocClass PageClass() const = 0;
  // Page-table pages on the fault path (the seed's alloc_pt() without an op_ctx).
  virtual mem::AllocClass TableClass() const { return PageClass(); }
  // Metadata of a sparse population (sgt entries, xarray nodes).
  virtual mem::AllocClass MetadataClass() const { return PageClass(); }

  // At VM_CREATE, after the root page table: 0 or -ENOMEM.
  virtual int OnVmCreate(vm::Vm& /*vm*/) { return 0; }
  // At every job submission, before the job is queued.
  virtual void OnSubmit() {}
  // The fault path could not populate or map [iova, iova + size) of `vm`
  // (-ENOMEM). nullopt: the fault fails; else what the policy did instead.
  virtual std::optional<Degraded> OnEnomem(vm::Vm& /*vm*/, uint64_t /*iova*/, uint64_t /*size*/,
                                           int /*prot*/) {
    return std::nullopt;
  }
};

}  // namespace faultlab::policy

#endif  // FAULTLAB_ENGINE_POLICY_POLICY_H_
