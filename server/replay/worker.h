// ReplayPool: worker threads that replay every completed trace from the
// store on a fresh twin with its recorded configuration (engine/replay) —
// each replay in a sandboxed worker process (sandbox.h) — save outcome and
// report, and add the results to the server's metrics. A replay that fails
// (damaged input, a crash, a limit) is saved as `error` with its reason,
// once: it is not retried.
// Every `twice_every`-th replay runs twice and the two reports are compared
// (faultlab_replay_nondeterminism_total). Work comes from the store's
// replay queue (Store::ClaimReplay, leased), so traces left unreplayed by a
// restart — or by another replica that died — are picked up; Enqueue only
// wakes a worker, and idle workers look again every second.
// A board trace replays with its board's calibrated costs when the server
// has them, and one with a fault stream then recalibrates its board
// (calibration.h).
#ifndef FAULTLAB_SERVER_REPLAY_WORKER_H_
#define FAULTLAB_SERVER_REPLAY_WORKER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/metrics/metrics.h"
#include "server/replay/sandbox.h"
#include "server/store/store.h"

namespace faultlab::server {

class ReplayPool {
 public:
  // `owner` names this process in leases (e.g. "host:pid").
  ReplayPool(Store* store, ServerMetrics* metrics, Sandbox* sandbox, int workers,
             uint64_t twice_every, std::string owner = "local", uint64_t lease_ms = 60000);
  ~ReplayPool();
  // Running replays are killed (sandbox StopAll) and stay pending in the
  // store, as do queued ones; returns once every worker thread has ended.
  void Stop();

  // A trace completed: wake a worker.
  void Enqueue(const std::string& trace_id);
  // Wakes the workers for whatever the store has pending. (The queue-depth
  // gauge is the store's count, read at each scrape: server/main.cc.)
  absl::Status EnqueuePending();
  // Blocks until the store has nothing left to claim and no replay runs (tests).
  void WaitIdle();
  uint64_t replays_done() const;

 private:
  void Run();
  void ReplayOne(const std::string& trace_id, bool twice);
  // A board trace with a fault stream was replayed: calibrate the board
  // (calibration.h), one round at a time per board.
  void Calibrate(const std::string& board);

  Store* store_;
  ServerMetrics* metrics_;
  Sandbox* sandbox_;
  uint64_t twice_every_;
  std::string owner_;
  uint64_t lease_ms_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  uint64_t wakeups_ = 0;
  bool drained_ = false;  // the last claim found nothing
  int running_ = 0;
  bool stop_ = false;
  uint64_t done_ = 0;
  uint64_t started_ = 0;
  std::set<std::string> calibrating_, recalibrate_;  // boards
  std::vector<std::thread> threads_;
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_REPLAY_WORKER_H_
