// The CLI's exit codes (docs/cli.md "Exit codes"), and the one mapping from
// a Status to them. A server's status (rpc::IsRemote) and a local one differ
// in two places only: NOT_FOUND is a missing trace or run on a server (the
// operation ran and found a problem) but a missing file here (I/O), and
// PERMISSION_DENIED is the wrong token there (usage) but a file here (I/O).
#ifndef FAULTLAB_CLI_EXIT_H_
#define FAULTLAB_CLI_EXIT_H_

#include "absl/status/status.h"
#include "lib/rpc/status.h"

namespace faultlab::cli {

constexpr int kExitOk = 0;
constexpr int kExitProblem = 1;  // ran, and found a divergence, conflict, regression or absence
constexpr int kExitUsage = 2;
constexpr int kExitDamaged = 3;
constexpr int kExitIo = 4;

inline int ExitCode(const absl::Status& s) {
  const bool remote = rpc::IsRemote(s);
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kDataLoss:
      return kExitDamaged;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kUnauthenticated:  // a missing or wrong --token
      return kExitUsage;
    case absl::StatusCode::kPermissionDenied:  // an agent's token where an operator's is needed
      return remote ? kExitUsage : kExitIo;
    case absl::StatusCode::kNotFound:
      return remote ? kExitProblem : kExitIo;
    case absl::StatusCode::kAlreadyExists:       // conflicts with what the server holds
    case absl::StatusCode::kFailedPrecondition:  // out of order, or not ready (not replayed yet)
      return kExitProblem;
    default:
      return kExitIo;
  }
}

}  // namespace faultlab::cli

#endif  // FAULTLAB_CLI_EXIT_H_
