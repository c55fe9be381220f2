#include "engine/pm/power.h"

#include <algorithm>
#include <utility>

#include "engine/base/check.h"

namespace faultlab::pm {

Power::Power(std::vector<uint64_t> opp_hz) : opp_(std::move(opp_hz)) {
  FAULTLAB_CHECK(!opp_.empty(), "a GPU has at least one operating point");
  std::sort(opp_.begin(), opp_.end());
  cur_ = opp_.size() - 1;
  trans_.assign(opp_.size() * opp_.size(), 0);
  time_in_state_ns_.assign(opp_.size(), 0);
}

void Power::SetBusy(bool busy, uint64_t now_ns) {
  Advance(now_ns);
  if (busy == busy_) return;
  busy_ = busy;
  if (!busy) idle_since_ = now_;
}

void Power::Account(uint64_t from, uint64_t to) {
  if (to <= from) return;
  time_in_state_ns_[cur_] += to - from;
  if (busy_) {
    active_ns_ += to - from;
    window_busy_ += to - from;
    return;
  }
  // pm_runtime autosuspend: active until the delay after the last job.
  const uint64_t suspend_at = idle_since_ + kAutosuspendNs;
  const uint64_t split = std::clamp(suspend_at, from, to);
  active_ns_ += split - from;
  suspended_ns_ += to - split;
}

void Power::Advance(uint64_t now_ns) {
  bool whole = false;  // the windows after the first lie wholly in one state
  while (next_poll_ <= now_ns) {
    // Idle at the lowest OPP or busy at the top one, every poll until now
    // asks for the same OPP: account them at once.
    const bool steady = busy_ ? cur_ == opp_.size() - 1 : cur_ == 0;
    if (whole && steady) {
      const uint64_t last = next_poll_ + (now_ns - next_poll_) / kPollNs * kPollNs;
      Account(now_, last);
      now_ = last;
      next_poll_ = last + kPollNs;
      window_busy_ = 0;
      break;
    }
    Account(now_, next_poll_);
    now_ = next_poll_;
    Poll(window_busy_, kPollNs);
    window_busy_ = 0;
    next_poll_ += kPollNs;
    whole = true;
  }
  if (now_ns > now_) {
    Account(now_, now_ns);
    now_ = now_ns;
  }
}

// devfreq_simple_ondemand_func(), then devfreq_recommended_opp(): the
// lowest OPP at or above the target, the top one past it.
void Power::Poll(uint64_t busy, uint64_t total) {
  constexpr uint64_t kMax = ~uint64_t{0};  // DEVFREQ_MAX_FREQ
  uint64_t target;
  if (busy >= (1u << 24) || total >= (1u << 24)) {  // "prevent overflow"
    busy >>= 7;
    total >>= 7;
  }
  if (total == 0 || busy * 100 > total * kUpThreshold) {
    target = kMax;
  } else if (busy * 100 > total * (kUpThreshold - kDownDifferential)) {
    target = opp_[cur_];
  } else {
    target = busy * opp_[cur_] / total * 100 / (kUpThreshold - kDownDifferential / 2);
  }
  size_t next = opp_.size() - 1;
  for (size_t i = 0; i < opp_.size(); ++i) {
    if (opp_[i] >= target) {
      next = i;
      break;
    }
  }
  if (next == cur_) return;
  ++trans_[cur_ * opp_.size() + next];
  ++total_trans_;
  cur_ = next;
}

Power::Snapshot Power::At(uint64_t now_ns) {
  Advance(now_ns);
  Snapshot s;
  s.suspended = !busy_ && now_ >= idle_since_ + kAutosuspendNs;
  s.active_ms = active_ns_ / 1'000'000;
  s.suspended_ms = suspended_ns_ / 1'000'000;
  s.cur_hz = opp_[cur_];
  s.opp_hz = opp_;
  s.trans = trans_;
  for (uint64_t ns : time_in_state_ns_) s.time_in_state_ms.push_back(ns / 1'000'000);
  s.total_trans = total_trans_;
  return s;
}

}  // namespace faultlab::pm
