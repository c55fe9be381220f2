// Sandbox: every replay the server runs happens in a faultlab-replay-worker
// process of its own (worker_main.cc), so that a hostile trace — one that
// crashes the engine, spins, or grows — costs one worker, never the server
// or the other replays (docs/security.md "Isolation").
//
// Limits, derived from the trace's stored size:
//  - CPU: RLIMIT_CPU of base + per-MiB seconds (SIGXCPU ends it);
//  - memory: the worker's own resident memory (anonymous and shmem, not
//    the trace file it maps), read from /proc every 50 ms and killed past
//    the limit (RLIMIT_AS would break sanitizer builds, whose
//    shadow memory is address space);
//  - wall time: twice the CPU limit, a last resort (a worker never sleeps).
// A worker that exceeds a limit, crashes or breaks the protocol ends as
// outcome `error` with a reason; StopAll() (server shutdown) kills the
// running ones, whose replays stay pending.
//
//   Sandbox box(*Sandbox::FindWorker(), SandboxPolicy{});
//   SandboxOutcome o = box.Run({path, bytes, "trace 00ff"}, nullptr, nullptr);
#ifndef FAULTLAB_SERVER_REPLAY_SANDBOX_H_
#define FAULTLAB_SERVER_REPLAY_SANDBOX_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/metrics/tally.h"

namespace faultlab::server {

struct SandboxPolicy {
  uint64_t cpu_base_seconds = 60;
  uint64_t cpu_seconds_per_mib = 10;  // of stored trace
  uint64_t cpu_max_seconds = 3600;
  uint64_t rss_bytes = 2ULL << 30;
};

struct SandboxTrace {
  std::string path;
  uint64_t bytes = 0;  // the stored (committed) length
  std::string name;    // in messages
};

struct SandboxJob {
  std::string trace_path;
  uint64_t bytes = 0;                // the stored (committed) length; limits scale with it
  std::string name;                  // in messages
  std::vector<std::string> what_if;  // "key=value"
  std::string mode = "open";         // open | rerun | calibrate
  bool keep_going = false;
  // Mode open: a calibrated profile's text whose costs the replay uses, and
  // what its report calls them (docs/cost-model.md "Calibration on the
  // server"); empty: the trace's profile's own.
  std::string costs_profile, costs_source;
  // Mode calibrate (in place of trace_path): the board's traces, the
  // profile they were recorded on, and the calibrated profile's id.
  std::vector<SandboxTrace> calibrate_from;
  std::string calibrate_base, calibrate_id;
};

struct SandboxOutcome {
  // identical | diverged | model_changed | what_if | error; a calibration:
  // calibrated | uncalibrated | error
  std::string outcome;
  std::string report;  // the report, or what went wrong (one line each)
  // With outcome error: one of families::kReplayErrorReasons, or "stopped"
  // (the server is shutting down: nothing to save).
  std::string error_reason;
  ReplayTally tally;
  uint64_t stream_faults = 0;  // a replay: its board fault stream's faults
  std::string profile;         // a calibration: the profile it made
};

class Sandbox {
 public:
  Sandbox(std::string worker_path, SandboxPolicy policy)
      : worker_(std::move(worker_path)), policy_(policy) {}
  ~Sandbox() { StopAll(); }

  // faultlab-replay-worker beside this program's binary, or NOT_FOUND
  // saying how to build it.
  static absl::StatusOr<std::string> FindWorker();

  // Runs one replay in a new worker and waits for it. `on_progress(inputs)`
  // hears of progress; `cancelled()` is asked every 50 ms (true: kill it,
  // reason "stopped"). Either may be empty.
  SandboxOutcome Run(const SandboxJob& job, const std::function<void(uint64_t)>& on_progress,
                     const std::function<bool()>& cancelled);

  // Kills every running worker; later Run()s end at once as "stopped".
  void StopAll();

 private:
  // The worker's process, its pipes, and why it was killed.
  struct Child;
  bool Start(const SandboxJob& job, uint64_t cpu_seconds, Child* c, std::string* error);
  void Supervise(Child* c, uint64_t wall_seconds, const std::function<void(uint64_t)>& on_progress,
                 const std::function<bool()>& cancelled);
  SandboxOutcome Finish(Child* c, uint64_t cpu_seconds);

  const std::string worker_;
  const SandboxPolicy policy_;
  std::mutex mu_;
  std::set<pid_t> running_;
  bool stopping_ = false;
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_REPLAY_SANDBOX_H_
