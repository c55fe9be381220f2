#include "server/replay/worker.h"

#include <chrono>
#include <iostream>
#include <thread>

#include "absl/strings/escaping.h"
#include "server/replay/calibration.h"
#include "server/store/failpoint.h"

namespace faultlab::server {

ReplayPool::ReplayPool(Store* store, ServerMetrics* metrics, Sandbox* sandbox, int workers,
                       uint64_t twice_every, std::string owner, uint64_t lease_ms)
    : store_(store),
      metrics_(metrics),
      sandbox_(sandbox),
      twice_every_(twice_every),
      owner_(std::move(owner)),
      lease_ms_(lease_ms) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { Run(); });
}

ReplayPool::~ReplayPool() { Stop(); }

void ReplayPool::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  sandbox_->StopAll();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void ReplayPool::Enqueue(const std::string&) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
    drained_ = false;
  }
  cv_.notify_one();
}

absl::Status ReplayPool::EnqueuePending() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
    drained_ = false;
  }
  cv_.notify_all();
  return absl::OkStatus();
}

void ReplayPool::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return drained_ && running_ == 0; });
}

uint64_t ReplayPool::replays_done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

void ReplayPool::Run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stop_) return;
    }
    absl::StatusOr<std::optional<std::string>> claimed = store_->ClaimReplay(owner_, lease_ms_);
    if (!claimed.ok() || !claimed->has_value()) {
      // Nothing to do here now: sleep until woken, or a second (another
      // replica's work, an expired lease).
      std::unique_lock<std::mutex> lock(mu_);
      if (claimed.ok()) drained_ = true;
      idle_cv_.notify_all();
      const uint64_t seen = wakeups_;
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_ || wakeups_ != seen; });
      continue;
    }
    bool twice;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++running_;
      twice = twice_every_ > 0 && started_++ % twice_every_ == 0;
    }
    ReplayOne(**claimed, twice);
    {
      std::lock_guard<std::mutex> lock(mu_);
      --running_;
      ++done_;
    }
  }
}

void ReplayPool::ReplayOne(const std::string& trace_id, bool twice) {
  // Tests of lease takeover: hold the claimed replay for a while.
  if (Failpoint("replay_stall") == FailAction::kFire)
    std::this_thread::sleep_for(std::chrono::seconds(3));
  absl::StatusOr<TraceRecord> rec = store_->GetTrace(trace_id);
  absl::StatusOr<Store::StoredFile> file = store_->TraceFile(trace_id);
  if (!rec.ok() || !file.ok()) return;
  const trace::TraceHeader& h = rec->header;
  const SeriesLabels labels{h.board(), h.profile(), h.workload(), h.variant(), h.policy()};
  SandboxJob job;
  job.trace_path = file->path;
  job.bytes = file->bytes;
  job.name = absl::BytesToHexString(trace_id);
  UseBoardCosts(BoardCostsFor(store_, h), {}, &job);
  const auto t0 = std::chrono::steady_clock::now();
  const SandboxOutcome o = sandbox_->Run(job, nullptr, nullptr);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.error_reason == "stopped") return;  // the server is stopping: it stays pending
  // Stored once: if another replica (or an earlier lease) got there first,
  // its result stands and this one is not counted again.
  if (!store_->SaveReplay(trace_id, o.outcome, o.report).ok()) return;
  if (metrics_) {
    metrics_->AddReplay(labels, o.outcome, o.tally, seconds);
    if (o.outcome == "error") metrics_->AddReplayError(o.error_reason);
  }
  if (o.stream_faults > 0 && h.capture_source() == trace::CAPTURE_SOURCE_BOARD)
    Calibrate(h.board());
  if (twice && o.outcome != "error") {
    const SandboxOutcome again = sandbox_->Run(job, nullptr, nullptr);
    if (again.error_reason == "stopped") return;
    const bool forced = Failpoint("replay_verify_mismatch") == FailAction::kFire;  // tests only
    if ((forced || again.report != o.report) && metrics_) metrics_->AddNondeterminism();
  }
}

void ReplayPool::Calibrate(const std::string& board) {
  {
    // One calibration of a board at a time; a trace that arrives meanwhile
    // asks for another round once it ends.
    std::lock_guard<std::mutex> lock(mu_);
    if (!calibrating_.insert(board).second) {
      recalibrate_.insert(board);
      return;
    }
  }
  for (;;) {
    const std::string said = CalibrateBoard(store_, sandbox_, board);
    std::cerr << "faultlab-server: board " << board << ": " << said << "\n";
    std::lock_guard<std::mutex> lock(mu_);
    if (recalibrate_.erase(board) == 0 || stop_) {
      calibrating_.erase(board);
      return;
    }
  }
}

}  // namespace faultlab::server
