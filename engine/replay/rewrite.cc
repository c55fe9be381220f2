#include "engine/replay/rewrite.h"

#include <cstring>
#include <map>
#include <utility>

#include "engine/uapi/ioctls.h"
#include "engine/uapi/panthor.h"

namespace faultlab::replay {

bool Rewriter::Ioctl(const trace::Ioctl& io, std::string* arg, SimUserMemory& mem) {
  Granularity(io.request, arg);
  return remapper_.Rewrite(io, arg, mem);
}

absl::StatusOr<std::vector<std::optional<std::string>>> ScanBoLabels(trace::TraceReader& reader) {
  std::vector<std::optional<std::string>> labels;
  std::map<std::pair<uint32_t, uint32_t>, size_t> live;  // (file, handle) -> position
  trace::Event e;
  while (reader.Next(&e)) {
    if (e.kind != trace::EVENT_IOCTL) continue;
    const trace::Ioctl& io = e.ioctl;
    const uapi::IoctlDesc* d = uapi::FindIoctl(io.request);
    if (d == nullptr) continue;
    if (d->id == uapi::IoctlId::kBoCreate) {
      labels.emplace_back();
      uapi::PanthorBoCreate bc;
      if (io.result == 0 && io.arg_out.size() >= sizeof(bc)) {
        std::memcpy(&bc, io.arg_out.data(), sizeof(bc));
        live[{io.file, bc.handle}] = labels.size() - 1;
      }
    } else if (d->id == uapi::IoctlId::kGemClose && io.result == 0 && io.arg_in.size() >= 4) {
      uint32_t handle;
      std::memcpy(&handle, io.arg_in.data(), 4);
      live.erase({io.file, handle});
    } else if (d->id == uapi::IoctlId::kBoSetLabel && io.result == 0 &&
               io.arg_in.size() >= sizeof(uapi::PanthorBoSetLabel)) {
      uapi::PanthorBoSetLabel sl;
      std::memcpy(&sl, io.arg_in.data(), sizeof(sl));
      auto it = live.find({io.file, sl.handle});
      if (it == live.end()) continue;
      std::optional<std::string>& label = labels[it->second];
      label.reset();  // a NULL label clears it
      // The string as the kernel read it: in the copies at its address, to its NUL.
      for (const trace::UserBytes& u : io.user_in) {
        if (sl.label == 0 || u.address > sl.label || sl.label - u.address >= u.data.size())
          continue;
        const absl::string_view rest = absl::string_view(u.data).substr(sl.label - u.address);
        label = std::string(rest.substr(0, rest.find('\0')));
        break;
      }
    }
  }
  if (!reader.status().ok()) return reader.status();
  return labels;
}

absl::StatusOr<ProgramAof> ParseProgramAof(absl::string_view selector,
                                           absl::string_view granularity, Variant variant) {
  WhatIf w;
  if (absl::Status s = SetWhatIf("aof", selector, &w); !s.ok()) return s;
  if (!granularity.empty()) {
    if (absl::Status s = SetWhatIf("aof_granularity", granularity, &w); !s.ok()) return s;
  }
  if (w.aof->label) {
    return absl::InvalidArgumentError("label= selects by a label given after the BO is created");
  }
  if (!HasAllocOnFault(variant)) {
    return absl::InvalidArgumentError(
        absl::StrCat("variant ", VariantName(variant), " has no alloc-on-fault BOs"));
  }
  return ProgramAof{*w.aof, w.aof_granularity_bytes.value_or(kDefaultAofGranularity)};
}

uint32_t FitGranule(uint64_t g, uint64_t size, bool whole) {
  while (g > 4096 && (g > size || (whole && size % g))) g >>= 1;
  return static_cast<uint32_t>(g);
}

bool ConvertToAof(const AofSelector& aof, uint64_t granularity, const std::string* label,
                  uapi::PanthorBoCreate* bc) {
  if ((bc->flags & uapi::kPanthorBoAllocOnFault) || bc->size < 4096 ||
      !aof.Matches(bc->size, bc->flags, label)) {
    return false;
  }
  bc->flags |= uapi::kPanthorBoAllocOnFault;
  bc->alloc_on_fault_granularity = FitGranule(granularity, bc->size, true);
  return true;
}

uint32_t Rewriter::Fit(uint64_t g, uint64_t size, bool whole) {
  const uint32_t fit = FitGranule(g, size, whole);
  clamped_ += fit != g;
  return fit;
}

void Rewriter::Granularity(uint32_t request, std::string* arg) {
  const uapi::IoctlDesc* d = uapi::FindIoctl(request);
  if ((granularity_ == 0 && !aof_) || d == nullptr || d->id != uapi::IoctlId::kBoCreate) return;
  if (arg->size() < sizeof(uapi::PanthorBoCreate)) {
    ++bo_creates_;
    return;
  }
  uapi::PanthorBoCreate bc;
  std::memcpy(&bc, arg->data(), sizeof(bc));
  const uint64_t position = bo_creates_++;
  const std::string* label =
      position < labels_.size() && labels_[position] ? &*labels_[position] : nullptr;
  if (bc.flags & uapi::kPanthorBoAllocOnFault) {
    if (!granularity_) return;
    bc.alloc_on_fault_granularity = Fit(granularity_, bc.size, false);
  } else if (aof_ && ConvertToAof(*aof_, aof_granularity_, label, &bc)) {
    // A plain BO the selector picks: allocated on fault from now on.
    clamped_ += bc.alloc_on_fault_granularity != aof_granularity_;
    ++converted_bos_;
    converted_bytes_ += bc.size;
  } else {
    return;
  }
  std::memcpy(arg->data(), &bc, sizeof(bc));
}

}  // namespace faultlab::replay
