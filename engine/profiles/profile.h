// Profile: the hardware and board facts a device is built from (GPU_INFO and
// CSIF_INFO register values, RAM, timer frequency, CPU task size), parsed from
// the `key = value` files in engine/profiles/.
//
//   absl::StatusOr<Profile> p = LoadProfile("g610");
//   uint32_t va_bits = p->va_bits();   // 48
#ifndef FAULTLAB_ENGINE_PROFILES_PROFILE_H_
#define FAULTLAB_ENGINE_PROFILES_PROFILE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/base/prng.h"
#include "engine/uapi/panthor.h"

namespace faultlab::profiles {

constexpr char kDefaultProfile[] = "g610";

// A modelled duration: uniform in [min_ns, max_ns], drawn from the device
// PRNG. A fixed cost (min_ns == max_ns, written `N` in a profile) draws
// nothing: it has no jitter, and the PRNG sequence of every other draw stays
// as it was.
struct CostRange {
  uint64_t min_ns = 0;
  uint64_t max_ns = 0;

  uint64_t Draw(Prng& prng) const { return min_ns == max_ns ? min_ns : prng.Range(min_ns, max_ns); }
  // n Draw()s, summed.
  uint64_t DrawSum(Prng& prng, uint64_t n) const {
    return min_ns == max_ns ? n * min_ns : prng.SumOfRanges(min_ns, max_ns, n);
  }
};

// The per-board cost model (docs/cost-model.md gives the source or reasoning
// for every constant; all are modelled, none measured on the board).
struct CostModel {
  CostRange irq_entry;        // GPU IRQ -> threaded handler running
  CostRange workqueue_delay;  // queue_work() -> the fault work running
  CostRange page_alloc;       // one 4 KiB shmem page, zeroed
  CostRange huge_alloc;       // one 2 MiB folio, zeroed
  CostRange metadata_alloc;   // one slab object
  CostRange pte_update;       // one PTE written
  CostRange flush;            // LOCK + FLUSH_PT + UNLOCK, AS_ACTIVE polled every 10 us
  CostRange reclaim_page;     // kswapd reclaiming one clean page-cache page
  CostRange kswapd_wakeup;    // wake_all_kswapds() -> kswapd running
  CostRange gpu_page_access;  // the GPU touching one 4 KiB page of a range
  CostRange job_launch;       // doorbell -> the CS running
  CostRange sched_tick;       // panthor_sched_report_mmu_fault() -> tick
  CostRange heap_grow;        // tiler-OOM event -> panthor_heap_grow() done (without allocation)
  CostRange bind_job;         // an async VM_BIND job: drm_sched run_job + one sm_step
};

struct Profile {
  std::string id;
  std::string name;
  uapi::PanthorGpuInfo gpu_info{};
  uapi::PanthorCsifInfo csif_info{};
  uint64_t timestamp_frequency = 0;
  uint64_t ram_bytes = 0;
  // TASK_SIZE_OF(current) of the board's CPU processes (VM_CREATE default).
  uint64_t task_size = 0;
  // The platform device name (GET_UNIQUE) and DT compatible string.
  std::string unique;
  std::string compatible;
  // drm_sched's job timeout (panthor_sched.c JOB_TIMEOUT_MS): a job still
  // running this long after it started is killed. Key `job_timeout_ms`,
  // optional (5000); tests use a short one.
  uint64_t job_timeout_ns = 5'000'000'000;
  // The GPU's operating points (the device tree's OPP table), Hz,
  // ascending: what devfreq chooses from (engine/pm). Key `opp_hz`.
  std::vector<uint64_t> opp_hz;
  CostModel cost;
  // Fields whose values are not sourced; non-empty makes the profile approximate.
  std::vector<std::string> invented;
  // The text it was parsed from (a trace recorded on a profile that is not
  // built in carries it: replay/config.cc).
  std::string text;

  bool approximate() const { return !invented.empty(); }
  // GPU_MMU_FEATURES_VA_BITS / PA_BITS (panthor_regs.h).
  uint32_t va_bits() const { return gpu_info.mmu_features & 0xff; }
  uint32_t pa_bits() const { return (gpu_info.mmu_features >> 8) & 0xff; }
  uint32_t as_count() const { return __builtin_popcount(gpu_info.as_present); }
};

// Parses a profile's text; errors name `origin` and the line.
absl::StatusOr<Profile> ParseProfile(absl::string_view text, absl::string_view origin);

// The directory profiles are looked up in before the built-in ones
// (`--profile-dir`, set once by a program at its start; "" for none): a
// calibrated profile (docs/cost-model.md "Calibration") lives there.
void SetProfileDir(std::string dir);
const std::string& ProfileDir();

// The built-in profile `id`, or `<override_dir>/<id>.profile` when that
// directory (default: ProfileDir()) is given and has one (it wins over a
// built-in of the same id).
absl::StatusOr<Profile> LoadProfile(absl::string_view id, const std::string& override_dir = "");
// The built-in profile `id` alone (whatever ProfileDir() holds).
absl::StatusOr<Profile> LoadBuiltinProfile(absl::string_view id);
// The text LoadProfile() parses, and where it came from.
absl::StatusOr<std::pair<std::string, std::string>> ProfileText(
    absl::string_view id, const std::string& override_dir = "");

// Ids of the built-in profiles, sorted.
std::vector<std::string> BuiltinProfileIds();

}  // namespace faultlab::profiles

#endif  // FAULTLAB_ENGINE_PROFILES_PROFILE_H_
