// absl::Status <-> grpc::Status, once: the two share the canonical codes, so
// a code crosses the wire unchanged and means the same on both sides (the
// server's services, the upload client, the CLI's remote verbs).
#ifndef FAULTLAB_LIB_RPC_STATUS_H_
#define FAULTLAB_LIB_RPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace faultlab::rpc {

grpc::Status ToGrpc(const absl::Status& s);

// The remote status, its message prefixed with `what` ("PATH: upload: ...")
// when given, and marked as the server's (IsRemote): a NOT_FOUND from a
// server names a missing trace, a local one a missing file.
absl::Status FromGrpc(const grpc::Status& s, absl::string_view what = {});

// True for a status that FromGrpc made.
bool IsRemote(const absl::Status& s);

}  // namespace faultlab::rpc

#endif  // FAULTLAB_LIB_RPC_STATUS_H_
