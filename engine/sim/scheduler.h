// Scheduler: the engine's discrete-event scheduler on a virtual clock.
//
// Events run in (time_ns, sequence) order: integer nanoseconds, ties broken
// by the order in which they were scheduled — never by the host. Choices
// among legal orders come from prng(), seeded from the device seed. Nothing
// here reads a wall clock or starts a thread.
//
//   Scheduler s(/*seed=*/1);
//   s.After(5'000, [&] { fence->Signal(0); });
//   s.RunUntil([&] { return fence->signalled; }, /*deadline_ns=*/1'000'000);
#ifndef FAULTLAB_ENGINE_SIM_SCHEDULER_H_
#define FAULTLAB_ENGINE_SIM_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <set>
#include <utility>
#include <vector>

#include "engine/base/prng.h"
#include "engine/sim/task.h"

namespace faultlab::sim {

class Scheduler {
 public:
  explicit Scheduler(uint64_t seed) : prng_(seed) {}

  uint64_t now_ns() const { return now_ns_; }
  // Schedules `fn` at absolute time `time_ns` (clamped to now). Returns an id
  // for Cancel(). Background events (other tenants, periodic samplers) run in
  // time order like the rest but never keep RunAll() or an endless wait going.
  // `fn` is any void() callable (or a Task), built in its slot.
  template <typename F>
  uint64_t At(uint64_t time_ns, F&& fn, bool background = false) {
    const uint32_t slot = TakeSlot();
    tasks_[slot].Assign(std::forward<F>(fn));
    return Push(time_ns, slot, background);
  }
  template <typename F>
  uint64_t After(uint64_t delay_ns, F&& fn, bool background = false) {
    return At(now_ns_ + delay_ns, std::forward<F>(fn), background);
  }
  void Cancel(uint64_t id);

  // Runs the earliest event; false when none is pending.
  bool RunOne();
  // Runs events until `done()` holds (true) or the next event lies past
  // `deadline_ns` / none is left (false; the clock then moves to the deadline
  // if it is finite).
  bool RunUntil(const std::function<bool()>& done, uint64_t deadline_ns);
  // Runs until no foreground event is pending.
  void RunAll();
  // When the earliest pending event is due, or kNever when none is.
  uint64_t NextEventNs();

  size_t pending() const { return events_.size() - cancelled_.size(); }
  size_t foreground_pending() const { return foreground_; }
  uint64_t events_run() const { return events_run_; }
  Prng& prng() { return prng_; }

  static constexpr uint64_t kNever = ~0ULL;

 private:
  // A binary heap ordered by (time, sequence); cancelled entries are skipped
  // when they reach the top. The heap moves small entries; their tasks stay
  // in slots of their own, built there and run there: a deque, so the slots
  // a running task schedules into never move it.
  struct Entry {
    uint64_t time;
    uint64_t seq;
    // slot in tasks_ << 1 | background. One 8-byte word, not a 4-byte and a
    // 1-byte field: the heap copies entries whole, and a copy that reads
    // two narrower stores at once stalls (no store-to-load forwarding).
    uint64_t slot_bg;
    uint32_t slot() const { return static_cast<uint32_t>(slot_bg >> 1); }
    bool background() const { return slot_bg & 1; }
  };
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };
  uint32_t TakeSlot();
  uint64_t Push(uint64_t time_ns, uint32_t slot, bool background);
  void DropCancelled();
  // Removes the heap's top entry; its task stays in its slot.
  Entry PopTop();
  // Destroys a run or cancelled event's task and frees its slot.
  void Release(uint32_t slot);
  std::vector<Entry> events_;
  std::deque<Task> tasks_;
  std::vector<uint32_t> free_slots_;
  std::set<uint64_t> cancelled_;
  size_t foreground_ = 0;
  uint64_t now_ns_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t events_run_ = 0;
  Prng prng_;
};

}  // namespace faultlab::sim

#endif  // FAULTLAB_ENGINE_SIM_SCHEDULER_H_
