// Power: the GPU's runtime PM and devfreq as panthor drives them.
//  - Runtime PM (panthor_device.c): the device suspends when it has been
//    idle for the autosuspend delay (50 ms, as panfrost's) and resumes with
//    the next job.
//  - devfreq (panthor_devfreq.c, drivers/devfreq/governor_simpleondemand.c):
//    every 50 ms the simple_ondemand governor looks at the busy share of the
//    window (upthreshold 45, downdifferential 5, as panfrost's and
//    panthor's) and asks for an operating point: the top one when busier
//    than 45 %, the current one above 40 %, else the current frequency
//    scaled by the load — rounded up to an OPP of the profile's table.
// Busy means a job is running on some queue; the executor says when that
// starts and stops, in virtual time. The model is evaluated lazily when
// something reads it (sysfs), so it schedules nothing and changes no cost:
// fault latency is the CPU's (IRQ, work queue, allocation, page tables),
// and the GPU-side costs are the profile's top OPP's. The initial OPP (the
// boot clock's) is not known: the top one is assumed.
//
//   Power p({300'000'000, 1'000'000'000});
//   p.SetBusy(true, 1'000'000);  p.SetBusy(false, 40'000'000);
//   Power::Snapshot s = p.At(200'000'000);   // s.suspended, s.cur_hz, ...
#ifndef FAULTLAB_ENGINE_PM_POWER_H_
#define FAULTLAB_ENGINE_PM_POWER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace faultlab::pm {

class Power {
 public:
  static constexpr uint64_t kAutosuspendNs = 50'000'000;
  static constexpr uint64_t kPollNs = 50'000'000;
  static constexpr uint64_t kUpThreshold = 45;
  static constexpr uint64_t kDownDifferential = 5;

  // `opp_hz`: the operating points, ascending (at least one).
  explicit Power(std::vector<uint64_t> opp_hz);

  // The GPU became busy (a job started on an idle GPU) or idle, at `now_ns`
  // (never before an earlier call's).
  void SetBusy(bool busy, uint64_t now_ns);

  struct Snapshot {
    bool suspended = false;
    uint64_t active_ms = 0, suspended_ms = 0;  // runtime_active/suspended_time
    uint64_t cur_hz = 0;
    std::vector<uint64_t> opp_hz;
    // trans_stat: transitions from OPP i to j (row-major), ms in each OPP.
    std::vector<uint64_t> trans;
    std::vector<uint64_t> time_in_state_ms;
    uint64_t total_trans = 0;
  };
  // The state at `now_ns` (not before the last SetBusy()).
  Snapshot At(uint64_t now_ns);

 private:
  // Runs the governor for every poll up to `now_ns`, and the PM clock.
  void Advance(uint64_t now_ns);
  void Poll(uint64_t busy_ns, uint64_t total_ns);
  void Account(uint64_t from, uint64_t to);  // runtime PM time over [from, to)

  std::vector<uint64_t> opp_;
  size_t cur_ = 0;  // index into opp_
  std::vector<uint64_t> trans_;
  std::vector<uint64_t> time_in_state_ns_;
  uint64_t total_trans_ = 0;
  bool busy_ = false;
  uint64_t now_ = 0;  // everything is accounted up to here
  uint64_t next_poll_ = kPollNs;
  uint64_t window_busy_ = 0;  // busy ns in the current window
  uint64_t idle_since_ = 0;   // when it last went idle
  uint64_t active_ns_ = 0, suspended_ns_ = 0;
};

}  // namespace faultlab::pm

#endif  // FAULTLAB_ENGINE_PM_POWER_H_
