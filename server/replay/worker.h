// ReplayPool: worker threads that replay every completed trace from the
// store on a fresh twin with its recorded configuration (engine/replay),
// save outcome and report, and add the results to the server's metrics.
// Every `twice_every`-th replay runs twice and the two reports are compared
// (faultlab_replay_nondeterminism_total). Traces left unreplayed by a
// restart are picked up again (Store::PendingReplays).
#ifndef FAULTLAB_SERVER_REPLAY_WORKER_H_
#define FAULTLAB_SERVER_REPLAY_WORKER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/metrics/metrics.h"
#include "server/store/store.h"

namespace faultlab::server {

class ReplayPool {
 public:
  ReplayPool(Store* store, ServerMetrics* metrics, int workers, uint64_t twice_every);
  // Lets running replays finish; queued ones stay pending in the store.
  ~ReplayPool();

  void Enqueue(const std::string& trace_id);
  // Queues every complete trace without a saved replay.
  absl::Status EnqueuePending();
  // Blocks until the queue is empty and no replay runs (tests, shutdown).
  void WaitIdle();
  uint64_t replays_done() const;

 private:
  void Run();
  void ReplayOne(const std::string& trace_id, bool twice);

  Store* store_;
  ServerMetrics* metrics_;
  uint64_t twice_every_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::string> queue_;
  int running_ = 0;
  bool stop_ = false;
  uint64_t done_ = 0;
  uint64_t started_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace faultlab::server

#endif  // FAULTLAB_SERVER_REPLAY_WORKER_H_
