#include "engine/base/status.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace faultlab {

absl::StatusCode ErrnoCode(int err) {
  const absl::StatusCode code = absl::ErrnoToStatusCode(err);
  return code == absl::StatusCode::kUnknown ? absl::StatusCode::kUnavailable : code;
}

absl::Status ErrnoStatus(int err, absl::string_view where, absl::string_view what) {
  return absl::Status(ErrnoCode(err), absl::StrCat(where, what.empty() ? "" : ": ", what, ": ",
                                                   std::strerror(err)));
}

}  // namespace faultlab
