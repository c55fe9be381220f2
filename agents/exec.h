// faultlab-agent --exec: one program run under the device shim — on the twin,
// or captured on this board's kernel (or a loopback kernel) — and its trace
// committed to the spool (docs/agent.md, docs/board.md).
#ifndef FAULTLAB_AGENTS_EXEC_H_
#define FAULTLAB_AGENTS_EXEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "agents/command.h"
#include "agents/spool.h"

namespace faultlab::agent {

struct ProgramRun {
  // What the agent exits with: the program's status (128 + N for a signal),
  // or 2 when the shim is missing, 4 when the program cannot start or its
  // trace cannot be spooled.
  int exit_status = 0;
  bool spooled = false;  // a whole trace is in the spool: upload it
  uint64_t events = 0;   // in it
};

// Runs the program and spools what it recorded, saying on stderr what
// happened, including a run that recorded nothing.
ProgramRun RunProgram(const Command& c, Spool* spool);

// A program workload of the schedule (lib/mesa's): run as RunProgram runs
// --exec's, its trace named for the workload; the events spooled, or why
// nothing was (UNAVAILABLE: the run failed; try again later).
absl::StatusOr<uint64_t> RunWorkloadProgram(const Command& c, const std::string& workload,
                                            Spool* spool);

}  // namespace faultlab::agent

#endif  // FAULTLAB_AGENTS_EXEC_H_
