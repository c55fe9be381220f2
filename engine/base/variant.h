// The kernel the twin models (DESIGN "Variants"). Lives in base/ because the
// VM, MMU and device packages all branch on it.
#ifndef FAULTLAB_ENGINE_BASE_VARIANT_H_
#define FAULTLAB_ENGINE_BASE_VARIANT_H_

#include <optional>

#include "absl/strings/string_view.h"

namespace faultlab {

enum class Variant {
  kSeriesFixed,  // what the series intends (default)
  kSeriesV3,     // the patch exactly as posted, on its base kernel, defects included
};

inline const char* VariantName(Variant v) {
  return v == Variant::kSeriesFixed ? "series-fixed" : "series-v3";
}

inline std::optional<Variant> ParseVariant(absl::string_view name) {
  if (name == "series-fixed") return Variant::kSeriesFixed;
  if (name == "series-v3") return Variant::kSeriesV3;
  return std::nullopt;
}

}  // namespace faultlab

#endif  // FAULTLAB_ENGINE_BASE_VARIANT_H_
