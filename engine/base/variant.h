// The kernel the twin models (DESIGN "Variants"). Lives in base/ because the
// VM, MMU and device packages all branch on it.
//
// Bit 1 of BO_CREATE's flags is ALLOC_ON_FAULT in the series and WB_MMAP
// from driver 1.7 on: the two cannot coexist in one kernel. The series'
// variants therefore report 1.6, the highest driver version that does not
// define bit 1, with every ioctl and query up to 1.6; `mainline` reports
// 1.7 (WB_MMAP, BO_SYNC, BO_QUERY_INFO, selected_coherency) and has no
// alloc-on-fault BOs (docs/engine.md "Variants and driver versions").
#ifndef FAULTLAB_ENGINE_BASE_VARIANT_H_
#define FAULTLAB_ENGINE_BASE_VARIANT_H_

#include <optional>

#include "absl/strings/string_view.h"

namespace faultlab {

enum class Variant {
  kSeriesFixed,  // what the series intends (default)
  kSeriesV3,     // the patch exactly as posted, on its base kernel, defects included
  kMainline,     // driver 1.7 without the series: captures of current kernels
};

inline const char* VariantName(Variant v) {
  switch (v) {
    case Variant::kSeriesFixed:
      return "series-fixed";
    case Variant::kSeriesV3:
      return "series-v3";
    case Variant::kMainline:
      return "mainline";
  }
  return "?";
}

constexpr Variant kAllVariants[] = {Variant::kSeriesFixed, Variant::kSeriesV3, Variant::kMainline};

inline std::optional<Variant> ParseVariant(absl::string_view name) {
  for (Variant v : kAllVariants) {
    if (name == VariantName(v)) return v;
  }
  return std::nullopt;
}

// The variants' names, for messages.
inline const char* VariantNames() { return "series-fixed, series-v3 or mainline"; }

// BO_CREATE's bit 1 is ALLOC_ON_FAULT (the series) rather than WB_MMAP.
inline bool HasAllocOnFault(Variant v) { return v != Variant::kMainline; }

// The seed's base kernel and its defects (series-v3), rather than the fixes
// mainline has (the unmap VMA count, partial unmaps of huge pages) and the
// series' own fixes.
inline bool HasSeedDefects(Variant v) { return v == Variant::kSeriesV3; }

// The panthor driver minor version the variant reports (major is 1).
inline int DriverMinor(Variant v) { return v == Variant::kMainline ? 7 : 6; }

}  // namespace faultlab

#endif  // FAULTLAB_ENGINE_BASE_VARIANT_H_
