#include "lib/rpc/status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace faultlab::rpc {

// The canonical codes are one list: gRPC's and absl's enumerators have the
// same values (absl/status/status.h says so); these pin it at compile time.
static_assert(static_cast<int>(absl::StatusCode::kNotFound) == grpc::StatusCode::NOT_FOUND);
static_assert(static_cast<int>(absl::StatusCode::kFailedPrecondition) ==
              grpc::StatusCode::FAILED_PRECONDITION);
static_assert(static_cast<int>(absl::StatusCode::kUnauthenticated) ==
              grpc::StatusCode::UNAUTHENTICATED);

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

namespace {
constexpr char kRemotePayload[] = "type.faultlab.dev/remote";
}  // namespace

absl::Status FromGrpc(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(s.error_code()),
                   what.empty() ? s.error_message() : absl::StrCat(what, ": ", s.error_message()));
  out.SetPayload(kRemotePayload, absl::Cord("1"));
  return out;
}

bool IsRemote(const absl::Status& s) { return s.GetPayload(kRemotePayload).has_value(); }

}  // namespace faultlab::rpc
