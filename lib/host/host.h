// What the host, not the engine, supplies to a recording: a trace id of 16
// random bytes and the wall-clock start (the engine never reads either).
// Used by `faultlab record`, the backfill, the agent and the device shim.
#ifndef FAULTLAB_LIB_HOST_HOST_H_
#define FAULTLAB_LIB_HOST_HOST_H_

#include <cstdint>
#include <string>

namespace faultlab::host {

std::string TraceId();
int64_t WallClockNs();

}  // namespace faultlab::host

#endif  // FAULTLAB_LIB_HOST_HOST_H_
