// What the host, not the engine, supplies to a recording: a trace id of 16
// random bytes and the wall-clock start (the engine never reads either).
// Used by `faultlab record`, the agent and the device shim.
#ifndef FAULTLAB_CLI_HOST_H_
#define FAULTLAB_CLI_HOST_H_

#include <cstdint>
#include <string>

namespace faultlab::cli {

std::string HostTraceId();
int64_t HostWallClockNs();

}  // namespace faultlab::cli

#endif  // FAULTLAB_CLI_HOST_H_
