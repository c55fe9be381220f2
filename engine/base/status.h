// The one mapping from errno to absl::Status, for every file, socket and
// ioctl error the project turns into a Status (the engine's trace files,
// the server's store, the agent's spool, the CLI's uploads).
//
// Codes by meaning, as absl::ErrnoToStatusCode gives them (ENOENT
// NOT_FOUND; EACCES, EPERM PERMISSION_DENIED; ENOSPC, EDQUOT, ENOMEM
// RESOURCE_EXHAUSTED; EINVAL INVALID_ARGUMENT; EEXIST ALREADY_EXISTS; EINTR,
// EAGAIN UNAVAILABLE; …), except that what absl leaves UNKNOWN (EIO above
// all) is UNAVAILABLE: the operation failed, nothing was acknowledged, and
// trying again later is the caller's best move.
//
//   if (fd < 0) return ErrnoStatus(errno, path, "cannot open");
//   -> NOT_FOUND "traces/x.fltrace: cannot open: No such file or directory"
#ifndef FAULTLAB_ENGINE_BASE_STATUS_H_
#define FAULTLAB_ENGINE_BASE_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace faultlab {

absl::StatusCode ErrnoCode(int err);

// "WHERE: WHAT: strerror(err)" (without ": WHAT" when `what` is empty).
absl::Status ErrnoStatus(int err, absl::string_view where, absl::string_view what = {});

}  // namespace faultlab

#endif  // FAULTLAB_ENGINE_BASE_STATUS_H_
