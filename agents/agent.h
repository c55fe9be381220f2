// Agent: one board's recorder and uploader (docs/agent.md).
//
// The recorder thread runs the schedule — workloads in turn on a fresh twin
// each run — into the spool; the uploader thread streams the oldest spooled
// trace to the server, resuming at the server's resume point after any
// failure, with exponential backoff while the server is away. A trace leaves
// the spool only when every chunk is acknowledged. When the spool is full the
// recorder pauses (and says so) until uploads free space: what was reported
// recorded is never dropped.
#ifndef FAULTLAB_AGENTS_AGENT_H_
#define FAULTLAB_AGENTS_AGENT_H_

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agents/spool.h"
#include "engine/replay/recorder.h"

namespace faultlab::agent {

struct AgentOptions {
  std::string server = "127.0.0.1:7400";  // for messages; the channel is built by the caller
  std::string token;
  std::string board;
  std::string profile = "g610";
  std::string variant = "series-fixed";
  std::string policy = "noretry";
  std::string budget;  // empty: the profile's RAM (512M with memory pressure)
  std::string thp = "never";
  bool pressure = false;  // also on for workloads that want it (pressure)
  uint32_t fault_cost_permille = 1000;
  std::vector<std::string> workloads = {"compute"};
  uint32_t frames = 0;          // 0: each workload's default
  uint64_t seed = 1;            // run i uses seed + i - 1
  uint64_t runs = 0;            // 0: until stopped
  uint64_t interval_ms = 1000;  // pause between runs
  std::string archive_dir;      // keep uploaded traces here instead of deleting them
  // Free-form identity (rack, owner, kernel build, ...): written into every
  // trace header as config entries `label.KEY` (never metric labels).
  std::vector<std::pair<std::string, std::string>> labels;
  uint64_t backoff_min_ms = 100, backoff_max_ms = 5000;
  bool record = true;  // false: only upload what is spooled (--exec)
  // Runs a program workload of the schedule (a Mesa workload: lib/mesa)
  // under the device shim and spools its trace: the events recorded. Set
  // by faultlab-agent (exec.h); the library runs the twin's workloads itself.
  std::function<absl::StatusOr<uint64_t>(const std::string& workload)> run_program;
};

// The agent's device settings as what-if keys (replay::RecordingConfig).
// INVALID_ARGUMENT naming the flag of a setting that does not parse.
absl::StatusOr<replay::WhatIf> Settings(const AgentOptions& options);

class Agent {
 public:
  Agent(AgentOptions options, std::shared_ptr<grpc::Channel> channel, Spool* spool);
  ~Agent();

  void Start();
  // Stops recording now and uploading after the current attempt.
  void Stop();
  // True once the schedule's runs are recorded and the spool is empty.
  bool Drained() const;
  // Waits for Drained() (or Stop()) up to `timeout` (0: no limit).
  bool WaitDrained(std::chrono::milliseconds timeout);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  std::string Scrape() const;
  // "" when healthy, else what is wrong (for /healthz).
  std::string Health() const;

 private:
  void RecordLoop();
  void UploadLoop();
  absl::Status RecordOne(uint64_t run);
  void Say(const std::string& line) const;
  // Sleeps up to `ms` unless stopped; false when stopped.
  bool Pause(uint64_t ms);

  AgentOptions opt_;
  std::shared_ptr<grpc::Channel> channel_;
  Spool* spool_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter *runs_recorded_, *events_recorded_, *record_failures_, *chunks_acked_;
  prometheus::Counter *uploads_ok_, *uploads_failed_, *uploads_rejected_;
  prometheus::Gauge *spool_bytes_, *spool_traces_, *spool_full_, *server_up_, *failures_in_a_row_,
      *last_upload_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool recording_done_ = false;
  std::thread recorder_, uploader_;
};

}  // namespace faultlab::agent

#endif  // FAULTLAB_AGENTS_AGENT_H_
