#include "engine/sim/scheduler.h"

#include <algorithm>

namespace faultlab::sim {

uint32_t Scheduler::TakeSlot() {
  if (free_slots_.empty()) {
    tasks_.emplace_back();
    return static_cast<uint32_t>(tasks_.size() - 1);
  }
  const uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  return slot;
}

uint64_t Scheduler::Push(uint64_t time_ns, uint32_t slot, bool background) {
  const uint64_t seq = next_seq_++;
  events_.push_back(
      Entry{std::max(time_ns, now_ns_), seq, uint64_t{slot} << 1 | (background ? 1 : 0)});
  std::push_heap(events_.begin(), events_.end(), Later());
  if (!background) ++foreground_;
  return seq;
}

void Scheduler::Cancel(uint64_t id) {
  for (const Entry& e : events_) {
    if (e.seq == id && !cancelled_.count(id)) {
      cancelled_.insert(id);
      if (!e.background()) --foreground_;
      return;
    }
  }
}

void Scheduler::DropCancelled() {
  while (!events_.empty() && cancelled_.count(events_.front().seq)) {
    cancelled_.erase(events_.front().seq);
    Release(PopTop().slot());
  }
}

Scheduler::Entry Scheduler::PopTop() {
  std::pop_heap(events_.begin(), events_.end(), Later());
  const Entry e = events_.back();
  events_.pop_back();
  return e;
}

void Scheduler::Release(uint32_t slot) {
  tasks_[slot].Reset();
  free_slots_.push_back(slot);
}

bool Scheduler::RunOne() {
  DropCancelled();
  if (events_.empty()) return false;
  const Entry e = PopTop();
  now_ns_ = e.time;
  if (!e.background()) --foreground_;
  ++events_run_;
  // Run in place: its slot stays taken (and put) until it returns.
  tasks_[e.slot()]();
  Release(e.slot());
  return true;
}

bool Scheduler::RunUntil(const std::function<bool()>& done, uint64_t deadline_ns) {
  while (!done()) {
    DropCancelled();
    // An endless wait ends when only background work is left: nothing can
    // change what the caller waits for any more.
    const bool idle = deadline_ns == kNever && foreground_ == 0;
    if (events_.empty() || idle || events_.front().time > deadline_ns) {
      if (deadline_ns != kNever) now_ns_ = std::max(now_ns_, deadline_ns);
      return false;
    }
    RunOne();
  }
  return true;
}

uint64_t Scheduler::NextEventNs() {
  DropCancelled();
  return events_.empty() ? kNever : events_.front().time;
}

void Scheduler::RunAll() {
  while (foreground_ > 0 && RunOne()) {
  }
}

}  // namespace faultlab::sim
