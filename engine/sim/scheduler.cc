#include "engine/sim/scheduler.h"

#include <algorithm>

namespace faultlab::sim {

uint64_t Scheduler::At(uint64_t time_ns, std::function<void()> fn, bool background) {
  const uint64_t seq = next_seq_++;
  const Key key{std::max(time_ns, now_ns_), seq};
  events_.emplace(key, Entry{std::move(fn), background});
  by_id_.emplace(seq, key);
  if (!background) ++foreground_;
  return seq;
}

void Scheduler::Cancel(uint64_t id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  auto ev = events_.find(it->second);
  if (!ev->second.background) --foreground_;
  events_.erase(ev);
  by_id_.erase(it);
}

bool Scheduler::RunOne() {
  if (events_.empty()) return false;
  auto it = events_.begin();
  now_ns_ = it->first.first;
  std::function<void()> fn = std::move(it->second.fn);
  if (!it->second.background) --foreground_;
  by_id_.erase(it->first.second);
  events_.erase(it);
  ++events_run_;
  fn();
  return true;
}

bool Scheduler::RunUntil(const std::function<bool()>& done, uint64_t deadline_ns) {
  while (!done()) {
    // An endless wait ends when only background work is left: nothing can
    // change what the caller waits for any more.
    const bool idle = deadline_ns == kNever && foreground_ == 0;
    if (events_.empty() || idle || events_.begin()->first.first > deadline_ns) {
      if (deadline_ns != kNever) now_ns_ = std::max(now_ns_, deadline_ns);
      return false;
    }
    RunOne();
  }
  return true;
}

void Scheduler::RunAll() {
  while (foreground_ > 0) RunOne();
}

}  // namespace faultlab::sim
