#include "engine/vm/va_space.h"

#include <cstdlib>

#include "absl/strings/str_format.h"
#include "engine/base/check.h"

namespace faultlab::vm {

bool GpuvaOp::operator==(const GpuvaOp& o) const {
  if (kind != o.kind) return false;
  switch (kind) {
    case kMap:
      return map == o.map;
    case kUnmap:
      return va == o.va && keep == o.keep;
    case kRemap:
      return va == o.va && keep == o.keep && has_prev == o.has_prev && has_next == o.has_next &&
             (!has_prev || prev == o.prev) && (!has_next || next == o.next);
  }
  return false;
}

std::string GpuvaOp::ToString() const {
  auto m = [](const OpMap& x) {
    return absl::StrFormat("[0x%x+0x%x obj=%p off=0x%x]", x.addr, x.range,
                           static_cast<const void*>(x.obj), x.offset);
  };
  switch (kind) {
    case kMap:
      return "MAP " + m(map);
    case kUnmap:
      return absl::StrFormat("UNMAP va=0x%x keep=%d", va, keep);
    case kRemap:
      return absl::StrFormat("REMAP va=0x%x keep=%d prev=%s next=%s", va, keep,
                             has_prev ? m(prev) : "-", has_next ? m(next) : "-");
  }
  return "?";
}

bool VaSpace::RangeValid(uint64_t addr, uint64_t range) const {
  const uint64_t end = addr + range;
  if (end < addr) return false;  // drm_gpuvm_check_overflow()
  return addr >= mm_start_ && end <= mm_start_ + mm_range_;
}

std::vector<const Vma*> VaSpace::Overlapping(uint64_t addr, uint64_t end) const {
  std::vector<const Vma*> out;
  auto it = vmas_.upper_bound(addr);
  if (it != vmas_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end() > addr) it = prev;
  }
  for (; it != vmas_.end() && it->first < end; ++it) out.push_back(&it->second);
  return out;
}

std::vector<GpuvaOp> VaSpace::SmMapOps(uint64_t req_addr, uint64_t req_range,
                                       const gem::Bo* req_obj, uint64_t req_offset) const {
  // Models __drm_gpuvm_sm_map().
  std::vector<GpuvaOp> ops;
  const uint64_t req_end = req_addr + req_range;
  for (const Vma* va : Overlapping(req_addr, req_end)) {
    const gem::Bo* obj = va->bo.get();
    const uint64_t offset = va->bo_offset, addr = va->addr, range = va->range, end = va->end();
    bool merge = obj != nullptr;
    GpuvaOp op;
    op.va = addr;
    if (addr == req_addr) {
      merge &= obj == req_obj && offset == req_offset;
      op.keep = merge;
      if (end <= req_end) {
        op.kind = GpuvaOp::kUnmap;
        ops.push_back(op);
        if (end == req_end) break;
        continue;
      }
      op.kind = GpuvaOp::kRemap;
      op.has_next = true;
      op.next = {req_end, range - req_range, obj, offset + req_range};
      ops.push_back(op);
      break;
    } else if (addr < req_addr) {
      const uint64_t ls_range = req_addr - addr;
      op.kind = GpuvaOp::kRemap;
      op.has_prev = true;
      op.prev = {addr, ls_range, obj, offset};
      op.keep = merge && obj == req_obj && offset + ls_range == req_offset;
      if (end <= req_end) {
        ops.push_back(op);
        if (end == req_end) break;
        continue;
      }
      op.has_next = true;
      op.next = {req_end, end - req_end, obj, offset + ls_range + req_range};
      ops.push_back(op);
      break;
    } else {  // addr > req_addr
      merge &= obj == req_obj && offset == req_offset + (addr - req_addr);
      op.keep = merge;
      if (end <= req_end) {
        op.kind = GpuvaOp::kUnmap;
        ops.push_back(op);
        if (end == req_end) break;
        continue;
      }
      op.kind = GpuvaOp::kRemap;
      op.has_next = true;
      op.next = {req_end, end - req_end, obj, offset + req_end - addr};
      ops.push_back(op);
      break;
    }
  }
  GpuvaOp map;
  map.kind = GpuvaOp::kMap;
  map.map = {req_addr, req_range, req_obj, req_offset};
  ops.push_back(map);
  return ops;
}

std::vector<GpuvaOp> VaSpace::SmUnmapOps(uint64_t req_addr, uint64_t req_range) const {
  // Models __drm_gpuvm_sm_unmap().
  std::vector<GpuvaOp> ops;
  const uint64_t req_end = req_addr + req_range;
  for (const Vma* va : Overlapping(req_addr, req_end)) {
    GpuvaOp op;
    op.va = va->addr;
    if (va->addr < req_addr) {
      op.has_prev = true;
      op.prev = {va->addr, req_addr - va->addr, va->bo.get(), va->bo_offset};
    }
    if (va->end() > req_end) {
      op.has_next = true;
      op.next = {req_end, va->end() - req_end, va->bo.get(), va->bo_offset + (req_end - va->addr)};
    }
    op.kind = op.has_prev || op.has_next ? GpuvaOp::kRemap : GpuvaOp::kUnmap;
    ops.push_back(op);
  }
  return ops;
}

void VaSpace::Insert(Vma vma) {
  FAULTLAB_CHECK(vma.range != 0 && Overlapping(vma.addr, vma.end()).empty(), "VMA at 0x",
                 absl::Hex(vma.addr), " is empty or overlaps another");
  const uint64_t addr = vma.addr;
  vmas_.emplace(addr, std::move(vma));
}

Vma VaSpace::Remove(uint64_t addr) {
  auto it = vmas_.find(addr);
  FAULTLAB_CHECK(it != vmas_.end(), "no VMA starts at 0x", absl::Hex(addr));
  Vma v = std::move(it->second);
  vmas_.erase(it);
  return v;
}

const Vma* VaSpace::Find(uint64_t addr) const {
  auto it = vmas_.find(addr);
  return it == vmas_.end() ? nullptr : &it->second;
}

const Vma* VaSpace::FindFirst(uint64_t addr, uint64_t range) const {
  // The first VA intersecting [addr, addr + range), without building a list:
  // this runs on every fault.
  auto it = vmas_.upper_bound(addr);
  if (it != vmas_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end() > addr) return &prev->second;
  }
  if (it != vmas_.end() && it->first < addr + range) return &it->second;
  return nullptr;
}

}  // namespace faultlab::vm
