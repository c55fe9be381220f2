// Failpoints: named places in the server's write path where a test makes it
// crash or fail on purpose. FAULTLAB_FAILPOINT=NAME[:ACTION][,NAME...] with
// ACTION `crash` (the default: _exit(137) at once, like kill -9 — no
// destructors, no flushing) or `enospc` (the write fails as on a full disk).
//
//   if (Failpoint("after_blob_fsync") == FailAction::kEnospc) return Full();
#ifndef FAULTLAB_SERVER_STORE_FAILPOINT_H_
#define FAULTLAB_SERVER_STORE_FAILPOINT_H_

#include <string>
#include <vector>

namespace faultlab::server {

enum class FailAction { kNone, kEnospc };

// Crashes the process when `name` is set to crash; returns kEnospc when it
// is set to enospc; kNone otherwise.
FailAction Failpoint(const char* name);

// Every failpoint of the store, in write order (the crash tests loop over them).
const std::vector<std::string>& StoreFailpoints();

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_STORE_FAILPOINT_H_
