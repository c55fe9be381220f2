// Failpoints: named places in the server's write path where a test makes it
// crash or fail on purpose. FAULTLAB_FAILPOINT=NAME[:ACTION][,NAME...] with
// ACTION `crash` (the default: _exit(137) at once, like kill -9 — no
// destructors, no flushing), `enospc` (the write fails as on a full disk) or
// `fire` (the place misbehaves in its own documented way, e.g.
// `replay_verify_mismatch`: the replay pool's second replay of a sampled
// trace counts as disagreeing — for testing the nondeterminism alert;
// `replay_stall`: a worker holds each claimed replay 3 s before running it —
// for testing lease takeover).
//
//   if (Failpoint("after_blob_fsync") == FailAction::kEnospc) return Full();
#ifndef FAULTLAB_SERVER_STORE_FAILPOINT_H_
#define FAULTLAB_SERVER_STORE_FAILPOINT_H_

#include <string>
#include <vector>

namespace faultlab::server {

enum class FailAction { kNone, kEnospc, kFire };

// Crashes the process when `name` is set to crash; returns kEnospc or kFire
// when it is set to enospc or fire; kNone otherwise.
FailAction Failpoint(const char* name);

// Every failpoint of the store, in write order (the crash tests loop over them).
const std::vector<std::string>& StoreFailpoints();

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_STORE_FAILPOINT_H_
