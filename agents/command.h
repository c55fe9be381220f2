// faultlab-agent's command line: flags, and a --config file of the same keys
// ("key = value"; flags win), checked and turned into what the agent runs.
#ifndef FAULTLAB_AGENTS_COMMAND_H_
#define FAULTLAB_AGENTS_COMMAND_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "agents/agent.h"

namespace faultlab::agent {

extern const char kUsage[];

struct Command {
  bool help = false;
  AgentOptions agent;
  std::string spool_dir;  // resolved: --spool-dir, or the per-user default
  uint64_t spool_max_bytes = 256ULL << 20;
  uint64_t drain_timeout_s = 0;  // 0: wait (with --runs); --exec waits 10 s
  std::string http_addr;         // empty: no /metrics
  bool tls = false;
  std::string tls_ca;
  // --exec -- PROGRAM ARGS, and where its GPU use goes.
  bool exec = false;
  std::vector<std::string> program;
  bool real = false;          // --device real: the board's kernel, captured by passthrough
  std::string backend;        // unix:PATH of a faultlab-loopback kernel
  std::string kmsg;           // the kernel log to collect from
  std::string kprobes;        // auto | FILE
  std::string fault_offsets;  // --fault-offsets (checked): instead of BTF's
  std::string shim;           // the shim's path (default beside the agent)
  // The program's environment beside the shim's (a Mesa workload's), and
  // the workload its trace is named for (empty: the program's name).
  std::vector<std::pair<std::string, std::string>> env;
  std::string workload;
  // --aof / --aof-granularity: programs on the twin get the BOs these select
  // allocated on fault (the shim's FAULTLAB_AOF); --mesa-dir: ./lab mesa's cache.
  std::string aof, aof_granularity;
  std::string mesa_dir;
  std::string profile_dir;  // --profile-dir: also the programs' (FAULTLAB_PROFILE_DIR)
};

// INVALID_ARGUMENT naming the flag (or `FILE:LINE` of --config) that is
// wrong; the caller prints it with kUsage and exits 2.
absl::StatusOr<Command> ParseCommand(int argc, char** argv);

}  // namespace faultlab::agent

#endif  // FAULTLAB_AGENTS_COMMAND_H_
