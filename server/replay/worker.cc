#include "server/replay/worker.h"

#include <chrono>

#include "absl/strings/escaping.h"
#include "engine/replay/replayer.h"
#include "server/store/failpoint.h"

namespace faultlab::server {

ReplayPool::ReplayPool(Store* store, ServerMetrics* metrics, int workers, uint64_t twice_every)
    : store_(store), metrics_(metrics), twice_every_(twice_every) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { Run(); });
}

ReplayPool::~ReplayPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ReplayPool::Enqueue(const std::string& trace_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(trace_id);
    if (metrics_) metrics_->replay_queue_depth().Set(static_cast<double>(queue_.size()));
  }
  cv_.notify_one();
}

absl::Status ReplayPool::EnqueuePending() {
  absl::StatusOr<std::vector<std::string>> ids = store_->PendingReplays();
  if (!ids.ok()) return ids.status();
  for (const std::string& id : *ids) Enqueue(id);
  return absl::OkStatus();
}

void ReplayPool::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return queue_.empty() && running_ == 0; });
}

uint64_t ReplayPool::replays_done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

void ReplayPool::Run() {
  for (;;) {
    std::string id;
    bool twice;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      id = queue_.front();
      queue_.pop_front();
      ++running_;
      twice = twice_every_ > 0 && started_++ % twice_every_ == 0;
      if (metrics_) metrics_->replay_queue_depth().Set(static_cast<double>(queue_.size()));
    }
    ReplayOne(id, twice);
    {
      std::lock_guard<std::mutex> lock(mu_);
      --running_;
      ++done_;
    }
    idle_cv_.notify_all();
  }
}

void ReplayPool::ReplayOne(const std::string& trace_id, bool twice) {
  const std::string name = absl::BytesToHexString(trace_id);
  absl::StatusOr<TraceRecord> rec = store_->GetTrace(trace_id);
  if (!rec.ok()) return;
  const trace::TraceHeader& h = rec->header;
  const SeriesLabels labels{h.board(), h.profile(), h.workload(), h.variant(), h.policy()};
  auto open = [&]() { return store_->OpenTrace(trace_id); };
  ReplayTally tally;
  replay::ReplayOptions opts;
  opts.on_output = [&tally](const trace::Event& e) { tally.Add(e); };
  const auto t0 = std::chrono::steady_clock::now();
  replay::ReplayResult r = replay::Replay(open, name, opts);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string outcome, report;
  if (!r.status.ok()) {
    outcome = "error";
    report = std::string(r.status.message()) + "\n";
  } else {
    outcome = replay::ReplayOutcomeName(r.outcome);
    report = replay::ReportText(r);
  }
  (void)store_->SaveReplay(trace_id, outcome, report);
  if (metrics_) metrics_->AddReplay(labels, outcome, tally, seconds);
  if (twice && r.status.ok()) {
    const replay::ReplayResult again = replay::Replay(open, name, {});
    const bool forced = Failpoint("replay_verify_mismatch") == FailAction::kFire;  // tests only
    if ((forced || replay::ReportText(again) != report) && metrics_) metrics_->AddNondeterminism();
  }
}

}  // namespace faultlab::server
